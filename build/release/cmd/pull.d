build/release/cmd/pull.o: cmd/pull.c binlog/client.h binlog/event.h \
 common/err.h binlog/gtid.h cmd/cmd.h common/bytes.h common/fs.h \
 common/log.h common/mem.h common/url.h
binlog/client.h:
binlog/event.h:
common/err.h:
binlog/gtid.h:
cmd/cmd.h:
common/bytes.h:
common/fs.h:
common/log.h:
common/mem.h:
common/url.h:
