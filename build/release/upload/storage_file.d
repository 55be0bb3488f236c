build/release/upload/storage_file.o: upload/storage_file.c common/fs.h \
 common/err.h common/log.h common/mem.h upload/storage.h common/crypto.h \
 common/io.h common/buf.h
common/fs.h:
common/err.h:
common/log.h:
common/mem.h:
upload/storage.h:
common/crypto.h:
common/io.h:
common/buf.h:
