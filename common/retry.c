#include "common/retry.h"

#include <stdlib.h>
#include <time.h>

#include "common/mem.h"

void
retryInit(Retry *r, uint64_t minMs, uint64_t maxMs, uint64_t calmMs) {
    BV_ASSERT(minMs >= 1 && maxMs >= minMs);
    *r = (Retry){.minMs = minMs, .maxMs = maxMs, .calmMs = calmMs};
    r->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)r;
}

uint64_t
retryNext(Retry *r, uint64_t nowMs) {
    uint64_t delay;

    if (r->calmMs != 0 && r->dueMs != 0 && nowMs > r->dueMs + r->calmMs)
        retryReset(r);
    r->step = r->step == 0 ? r->minMs : r->step >= r->maxMs / 2 ? r->maxMs : r->step * 2;
    r->attempts++;
    delay = r->step / 2 + (uint64_t)rand_r(&r->seed) % (r->step - r->step / 2 + 1);
    r->dueMs = nowMs + delay;
    return delay;
}

void
retryReset(Retry *r) {
    r->step = 0;
    r->dueMs = 0;
    r->attempts = 0;
}

bool
retryErrTransient(ErrCode code) {
    return code != ERR_USAGE && code != ERR_CONFIG && code != ERR_AUTH && code != ERR_EXISTS;
}

uint64_t
retryNowMs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
retryNowCoarseMs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
