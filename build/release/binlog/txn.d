build/release/binlog/txn.o: binlog/txn.c binlog/txn.h binlog/event.h \
 common/err.h binlog/gtid.h binlog/payload.h common/mem.h
binlog/txn.h:
binlog/event.h:
common/err.h:
binlog/gtid.h:
binlog/payload.h:
common/mem.h:
