build/release/tests/unit/main.o: tests/unit/main.c tests/test.h \
 tests/unit/suites.h
tests/test.h:
tests/unit/suites.h:
