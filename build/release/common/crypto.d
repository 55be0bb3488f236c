build/release/common/crypto.o: common/crypto.c common/crypto.h \
 common/err.h common/mem.h
common/crypto.h:
common/err.h:
common/mem.h:
