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
    if (r->calmMs != 0 && r->lastFailMs != 0 && nowMs > r->lastFailMs + r->calmMs)
        retryReset(r);
    r->step = r->step == 0 ? r->minMs : r->step >= r->maxMs / 2 ? r->maxMs : r->step * 2;
    r->lastFailMs = nowMs ? nowMs : 1;
    r->attempts++;
    return r->step / 2 + (uint64_t)rand_r(&r->seed) % (r->step - r->step / 2 + 1);
}

void
retryReset(Retry *r) {
    r->step = 0;
    r->lastFailMs = 0;
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
