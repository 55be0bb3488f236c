build/release/upload/storage.o: upload/storage.c upload/storage.h \
 common/crypto.h common/err.h common/io.h common/buf.h common/log.h \
 common/mem.h
upload/storage.h:
common/crypto.h:
common/err.h:
common/io.h:
common/buf.h:
common/log.h:
common/mem.h:
