/* Unit tests of common/retry: the backoff's steps, jitter bounds, cap, calm period and reset. */
#include "common/retry.h"

#include <unistd.h>

#include "tests/test.h"

static void
testStepsDoubleUpToTheCap(void) {
    Retry r;
    uint64_t want[] = {100, 200, 400, 800, 1000, 1000};

    retryInit(&r, 100, 1000, 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint64_t d = retryNext(&r, 1000 + i);

        CHECK_INT(r.step, want[i]);
        CHECK(d >= want[i] / 2 && d <= want[i]);
    }
    CHECK_INT(r.attempts, 6);
}

static void
testResetStartsAfresh(void) {
    Retry r;

    retryInit(&r, 50, 5000, 0);
    retryNext(&r, 1);
    retryNext(&r, 2);
    retryNext(&r, 3);
    CHECK_INT(r.step, 200);
    retryReset(&r);
    CHECK_INT(retryNext(&r, 4) <= 50, 1);
    CHECK_INT(r.step, 50);
}

static void
testCalmPeriodDecidesWhenToStartAfresh(void) {
    Retry r;

    uint64_t d;

    retryInit(&r, 100, 60000, 10000);
    retryNext(&r, 1000);
    retryNext(&r, 2000);
    d = retryNext(&r, 5000); /* failures in quick succession keep backing off */
    CHECK_INT(r.step, 400);
    retryNext(&r, 5000 + d + 10001); /* one after a calm period starts afresh */
    CHECK_INT(r.step, 100);
    CHECK_INT(r.attempts, 1);
    /* The calm period counts from when the retry was due: waits longer than the period, one
     * after the other, are one outage. */
    retryInit(&r, 20000, 60000, 10000);
    d = retryNext(&r, 1000);
    CHECK(d >= 10000);
    d = retryNext(&r, 1000 + d + 50);
    CHECK_INT(r.step, 40000);
    retryNext(&r, r.dueMs + 50);
    CHECK_INT(r.step, 60000);
}

static void
testJitterSpreadsDelays(void) {
    Retry r;
    uint64_t lo = UINT64_MAX, hi = 0;

    for (int i = 0; i < 200; i++) {
        retryInit(&r, 1000, 1000, 0);
        r.seed = (unsigned)i;
        uint64_t d = retryNext(&r, 1);

        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    CHECK(lo >= 500 && hi <= 1000 && hi - lo > 100);
}

static void
testTransientCodes(void) {
    CHECK(retryErrTransient(ERR_STORAGE));
    CHECK(retryErrTransient(ERR_SOURCE));
    CHECK(retryErrTransient(ERR_IO));
    CHECK(!retryErrTransient(ERR_AUTH));
    CHECK(!retryErrTransient(ERR_CONFIG));
    CHECK(!retryErrTransient(ERR_USAGE));
    CHECK(!retryErrTransient(ERR_EXISTS));
}

/* The coarse clock is the precise one at the last tick: never ahead of it, never far behind, and it
 * moves. */
static void
testCoarseClock(void) {
    uint64_t start = retryNowCoarseMs(), coarse = start;

    for (int i = 0; i < 1000 && coarse == start; i++) {
        uint64_t before = retryNowMs();

        coarse = retryNowCoarseMs();
        CHECK(coarse <= retryNowMs());
        CHECK(coarse + 100 >= before);
        usleep(1000);
    }
    CHECK(coarse > start);
}

void
suite_retry(void) {
    testRun("retry: steps double up to the cap, delays within [step/2, step]", testStepsDoubleUpToTheCap);
    testRun("retry: reset starts afresh", testResetStartsAfresh);
    testRun("retry: a failure after the calm period starts afresh, quick ones do not", testCalmPeriodDecidesWhenToStartAfresh);
    testRun("retry: jitter spreads the delays", testJitterSpreadsDelays);
    testRun("retry: which error codes are worth retrying", testTransientCodes);
    testRun("retry: the coarse clock trails the precise one by at most a tick", testCoarseClock);
}
