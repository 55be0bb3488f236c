build/release/common/log.o: common/log.c common/log.h common/json.h \
 common/mem.h
common/log.h:
common/json.h:
common/mem.h:
