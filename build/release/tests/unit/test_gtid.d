build/release/tests/unit/test_gtid.o: tests/unit/test_gtid.c \
 binlog/gtid.h common/err.h common/bytes.h common/mem.h tests/test.h
binlog/gtid.h:
common/err.h:
common/bytes.h:
common/mem.h:
tests/test.h:
