build/release/tests/unit/test_io.o: tests/unit/test_io.c common/buf.h \
 common/crypto.h common/err.h common/io.h common/mem.h tests/test.h
common/buf.h:
common/crypto.h:
common/err.h:
common/io.h:
common/mem.h:
tests/test.h:
