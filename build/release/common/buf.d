build/release/common/buf.o: common/buf.c common/buf.h common/mem.h
common/buf.h:
common/mem.h:
