build/release/tests/unit/test_binlog.o: tests/unit/test_binlog.c \
 binlog/gtid.h common/err.h binlog/payload.h binlog/event.h \
 binlog/reader.h binlog/txn.h common/bytes.h common/mem.h tests/test.h
binlog/gtid.h:
common/err.h:
binlog/payload.h:
binlog/event.h:
binlog/reader.h:
binlog/txn.h:
common/bytes.h:
common/mem.h:
tests/test.h:
