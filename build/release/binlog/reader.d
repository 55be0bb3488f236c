build/release/binlog/reader.o: binlog/reader.c binlog/reader.h \
 binlog/event.h common/err.h common/bytes.h common/mem.h
binlog/reader.h:
binlog/event.h:
common/err.h:
common/bytes.h:
common/mem.h:
