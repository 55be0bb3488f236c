build/release/common/io.o: common/io.c common/io.h common/buf.h \
 common/crypto.h common/err.h common/fs.h common/mem.h
common/io.h:
common/buf.h:
common/crypto.h:
common/err.h:
common/fs.h:
common/mem.h:
