build/release/binlog/event.o: binlog/event.c binlog/event.h common/err.h \
 common/bytes.h common/mem.h
binlog/event.h:
common/err.h:
common/bytes.h:
common/mem.h:
