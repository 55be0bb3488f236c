build/release/common/fs.o: common/fs.c common/fs.h common/err.h \
 common/buf.h common/mem.h
common/fs.h:
common/err.h:
common/buf.h:
common/mem.h:
