/*
 * A small unit-test harness. A suite is a function that calls testRun() for each case; a case
 * passes when none of its CHECKs failed. tests/unit/main.c runs every suite (or those named on
 * the command line) and ends with the line "N passed, N failed".
 */
#ifndef BV_TESTS_TEST_H
#define BV_TESTS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void testRun(const char *name, void (*fn)(void));
void testFail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Directory of the shared binlog fixtures ($BV_FIXTURES or ../shared/fixtures/binlog). */
const char *testFixtureDir(void);
/* A fresh empty temporary directory for this case, removed at the end of the run. */
const char *testTmpDir(void);
/* Read a whole file (for tests only); returns NULL if it cannot be read. */
unsigned char *testReadFile(const char *path, size_t *len);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            testFail(__FILE__, __LINE__, "check failed: %s", #cond);                              \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_)                                                                            \
            testFail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, va_, #b, vb_);     \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0)                                   \
            testFail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, sa_ ? sa_ : "(null)", \
                     sb_ ? sb_ : "(null)");                                                        \
    } while (0)

/* A message (an Err's msg, an output) that must contain `part`: a failure prints the whole
 * message, so that a changed wording shows what it became. */
#define CHECK_MSG(msg, part)                                                                       \
    do {                                                                                           \
        const char *sm_ = (msg), *sp_ = (part);                                                    \
        if (sm_ == NULL || strstr(sm_, sp_) == NULL)                                               \
            testFail(__FILE__, __LINE__, "%s does not contain \"%s\": it is \"%s\"", #msg, sp_,   \
                     sm_ ? sm_ : "(null)");                                                        \
    } while (0)

/* Stop the current case when a precondition for the rest of it fails. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            testFail(__FILE__, __LINE__, "required: %s", #cond);                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
