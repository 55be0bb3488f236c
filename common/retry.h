/*
 * The one retry policy: capped exponential backoff with jitter. Every loop that retries an
 * operation on something outside the program (the source's stream, the store, the spool's disk)
 * keeps a Retry and asks it how long to wait; whether an error is worth retrying is decided by the
 * code each layer gives its errors (libcurl's and S3's in storage/s3_request.c and storage/http.c,
 * the server's in mysql/), read by retryErrTransient(), never by a list of the loop's own.
 *
 * The delay of a step is a random value in [step/2, step] ("equal jitter"): retries of many
 * agents spread out while none retries sooner than half the step. The step starts at minMs and
 * doubles up to maxMs. A failure more than calmMs after the previous retry was due (the previous
 * failure plus its delay: a long wait is still the same outage) starts afresh, so a failure after
 * a long healthy run is retried soon, while a source that accepts a connection and fails at once
 * keeps backing off instead of being retried twice a second forever.
 */
#ifndef BV_COMMON_RETRY_H
#define BV_COMMON_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

typedef struct Retry {
    uint64_t minMs, maxMs, calmMs; /* calmMs 0: only retryReset() starts afresh */
    uint64_t step;                 /* current step, 0 before the first failure */
    uint64_t dueMs;                /* monotonic time the last retry was due (failure + delay), 0: none */
    unsigned attempts;             /* failures since the last start afresh */
    unsigned seed;
} Retry;

/* minMs >= 1, maxMs >= minMs. */
void retryInit(Retry *r, uint64_t minMs, uint64_t maxMs, uint64_t calmMs);

/* A failure at monotonic time nowMs (ms): the delay to wait before the next attempt. */
uint64_t retryNext(Retry *r, uint64_t nowMs);

/* The operation succeeded for good: the next failure starts at minMs. */
void retryReset(Retry *r);

/* Is a failure with this error code worth retrying? Everything is but what no retry can change:
 * a usage or configuration error, refused credentials or privileges, and an object that exists
 * with other content. */
bool retryErrTransient(ErrCode code);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t retryNowMs(void);

/* Milliseconds of CLOCK_MONOTONIC_COARSE: the clock at the kernel's last tick (up to a few ms
 * behind retryNowMs(), never ahead of it), at a tenth of the cost of a read on a VM (~8 ns
 * against ~80 ns with kvm-clock). For readings taken per event or per transaction where a few
 * milliseconds do not matter; mixed with retryNowMs() readings, a coarse one may be the earlier. */
uint64_t retryNowCoarseMs(void);

#endif
