build/release/tests/unit/test_fs.o: tests/unit/test_fs.c common/fs.h \
 common/err.h common/mem.h tests/test.h
common/fs.h:
common/err.h:
common/mem.h:
tests/test.h:
