build/release/cmd/inspect.o: cmd/inspect.c binlog/gtid.h common/err.h \
 binlog/payload.h binlog/event.h binlog/reader.h binlog/txn.h cmd/cmd.h \
 common/json.h common/mem.h
binlog/gtid.h:
common/err.h:
binlog/payload.h:
binlog/event.h:
binlog/reader.h:
binlog/txn.h:
cmd/cmd.h:
common/json.h:
common/mem.h:
