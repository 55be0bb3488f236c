build/release/cmd/main.o: cmd/main.c cmd/cmd.h common/err.h \
 common/version.h
cmd/cmd.h:
common/err.h:
common/version.h:
