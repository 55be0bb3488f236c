build/release/binlog/gtid.o: binlog/gtid.c binlog/gtid.h common/err.h \
 common/bytes.h common/mem.h
binlog/gtid.h:
common/err.h:
common/bytes.h:
common/mem.h:
