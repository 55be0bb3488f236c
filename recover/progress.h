/*
 * Progress of a recovery, as the user sees it: one line, either a bar redrawn on a terminal or a
 * periodic log line, with transactions and bytes applied, the rate and the time left. Pure
 * formatting and arithmetic, no I/O: the recovery engine fills a RecoverProgress, the command
 * prints the line.
 */
#ifndef BV_RECOVER_PROGRESS_H
#define BV_RECOVER_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum RecoverPhase {
    RECOVER_PHASE_CONNECTING = 0, /* waiting for the target to connect to the replication endpoint */
    RECOVER_PHASE_APPLYING,       /* the target applies */
    RECOVER_PHASE_FINISHING,      /* stopping the target's applier and removing the configuration */
} RecoverPhase;

typedef struct RecoverProgress {
    RecoverPhase phase;
    uint64_t transactions;      /* applied so far (from the target's gtid_slave_pos) */
    uint64_t transactionsTotal; /* to apply */
    uint64_t bytes;             /* binlog bytes applied so far (up to the applier's position in the
                                   source's binlog) */
    uint64_t bytesTotal;        /* binlog bytes to apply */
    double seconds;             /* since the target started applying */
    double rate;                /* transactions per second, recent (RecoverRate) */
    const char *position;       /* the target's gtid_slave_pos, "" when unknown */
} RecoverProgress;

/* Transactions per second over the last few seconds: an exponentially weighted average of the
 * rate between samples, so that the estimate follows changes without jumping at each sample. */
typedef struct RecoverRate {
    double lastSeconds;
    uint64_t lastCount;
    double rate;
    bool started;
} RecoverRate;

/* Add a sample: `count` transactions applied after `seconds`. Samples closer than 0.2 s to the
 * previous one are ignored. */
void recoverRateSample(RecoverRate *r, double seconds, uint64_t count);

/* Seconds left at `rate` for `left` transactions; -1 when unknown (no rate yet). */
double recoverEta(uint64_t left, double rate);

/* "1:02:03", "2:03", "0:05", or "--:--" for a negative value. */
void recoverFormatDuration(double seconds, char *out, size_t size);

/* "812 B", "1.2 KiB", "35.1 MiB", "2.40 GiB". */
void recoverFormatBytes(uint64_t bytes, char *out, size_t size);

/* The progress line. With `bar`, a terminal line of at most `width` columns (no newline; the
 * caller returns the carriage):
 *   [#########.........]  45%  12345/27000 trx  35.1 MiB/80.2 MiB  8123 trx/s  ETA 0:02
 * without, a log line:
 *   applied 12345 of 27000 transactions (45%) and 35.1 MiB of 80.2 MiB of binlog, 8123 trx/s,
 *   0:02 left, at gtid 0-1-12345
 */
void recoverProgressFormat(const RecoverProgress *p, bool bar, unsigned width, char *out, size_t size);

#endif
