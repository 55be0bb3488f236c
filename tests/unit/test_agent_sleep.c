/* Unit tests of agentWorkerSleep() (agent/state.c), the wait of the archiver and the monitor: the
 * monitor sleeps its whole period whatever the uploads do (it spun while a finished upload waited
 * for the archiver), the archiver returns once an upload is done, both at shutdown. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "agent/agent_internal.h"
#include "common/mem.h"
#include "common/retry.h"
#include "tests/test.h"

static Agent *
sleeperNew(void) {
    Agent *a = bvCalloc(1, sizeof(*a));

    pthread_mutex_init(&a->doneLock, NULL);
    pthread_cond_init(&a->doneCond, NULL);
    return a;
}

static void
sleeperFree(Agent *a) {
    pthread_cond_destroy(&a->doneCond);
    pthread_mutex_destroy(&a->doneLock);
    bvFree(a);
}

/* Broadcasts doneCond every 2 ms until `stop`, as finished uploads do. */
typedef struct Waker {
    Agent *a;
    atomic_bool stop;
} Waker;

static void *
wakerMain(void *arg) {
    Waker *w = arg;
    struct timespec ts = {0, 2 * 1000000L};

    while (!atomic_load(&w->stop)) {
        pthread_mutex_lock(&w->a->doneLock);
        pthread_cond_broadcast(&w->a->doneCond);
        pthread_mutex_unlock(&w->a->doneLock);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static uint64_t
sleptMs(Agent *a, uint64_t ms, bool untilDone) {
    uint64_t t0 = retryNowMs();

    agentWorkerSleep(a, ms, untilDone);
    return retryNowMs() - t0;
}

/* An upload done and not yet taken by the archiver: the archiver returns at once, the monitor
 * sleeps its period (it returned at once too, and looped). */
static void
testUploadDone(void) {
    Agent *a = sleeperNew();

    a->doneCount = 1;
    CHECK(sleptMs(a, 5000, true) < 1000);
    CHECK(sleptMs(a, 100, false) >= 90);
    sleeperFree(a);
}

/* Wake-ups (every upload done broadcasts) do not end the monitor's period; nothing done, the
 * archiver sleeps its period too. */
static void
testWakeups(void) {
    Agent *a = sleeperNew();
    Waker w = {.a = a};
    pthread_t t;

    REQUIRE(pthread_create(&t, NULL, wakerMain, &w) == 0);
    CHECK(sleptMs(a, 100, false) >= 90);
    CHECK(sleptMs(a, 100, true) >= 90);
    atomic_store(&w.stop, true);
    pthread_join(t, NULL);
    sleeperFree(a);
}

/* At shutdown both return at once. */
static void
testShutdown(void) {
    Agent *a = sleeperNew();

    atomic_store(&a->workersStop, true);
    CHECK(sleptMs(a, 5000, false) < 1000);
    CHECK(sleptMs(a, 5000, true) < 1000);
    sleeperFree(a);
}

void
suite_agent_sleep(void) {
    testRun("agent sleep: an upload done ends the archiver's wait, not the monitor's", testUploadDone);
    testRun("agent sleep: wake-ups do not end a wait before its time", testWakeups);
    testRun("agent sleep: shutdown ends both waits", testShutdown);
}
