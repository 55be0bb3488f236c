build/release/common/url.o: common/url.c common/url.h common/err.h \
 common/mem.h
common/url.h:
common/err.h:
common/mem.h:
