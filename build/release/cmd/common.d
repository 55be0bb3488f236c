build/release/cmd/common.o: cmd/common.c cmd/cmd.h common/err.h
cmd/cmd.h:
common/err.h:
