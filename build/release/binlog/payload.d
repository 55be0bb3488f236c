build/release/binlog/payload.o: binlog/payload.c binlog/payload.h \
 binlog/event.h common/err.h binlog/reader.h common/mem.h
binlog/payload.h:
binlog/event.h:
common/err.h:
binlog/reader.h:
common/mem.h:
