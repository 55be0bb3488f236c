#include "recover/progress.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Weight of the newest interval in the average: about the last 5 samples count. */
#define RATE_ALPHA 0.3
#define RATE_MIN_INTERVAL 0.2

void
recoverRateSample(RecoverRate *r, double seconds, uint64_t count) {
    double dt, inst;

    if (!r->started) {
        r->started = true;
        r->lastSeconds = seconds;
        r->lastCount = count;
        r->rate = 0;
        return;
    }
    dt = seconds - r->lastSeconds;
    if (dt < RATE_MIN_INTERVAL || count < r->lastCount)
        return;
    inst = (double)(count - r->lastCount) / dt;
    r->rate = r->rate <= 0 ? inst : RATE_ALPHA * inst + (1 - RATE_ALPHA) * r->rate;
    r->lastSeconds = seconds;
    r->lastCount = count;
}

double
recoverEta(uint64_t left, double rate) {
    if (left == 0)
        return 0;
    if (rate <= 0)
        return -1;
    return (double)left / rate;
}

void
recoverFormatDuration(double seconds, char *out, size_t size) {
    uint64_t s;

    if (seconds < 0 || !isfinite(seconds) || seconds > 1e9) {
        snprintf(out, size, "--:--");
        return;
    }
    s = (uint64_t)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, size, "%" PRIu64 ":%02u:%02u", s / 3600, (unsigned)(s / 60 % 60), (unsigned)(s % 60));
    else
        snprintf(out, size, "%u:%02u", (unsigned)(s / 60), (unsigned)(s % 60));
}

void
recoverFormatBytes(uint64_t bytes, char *out, size_t size) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = -1;

    if (bytes < 1024) {
        snprintf(out, size, "%" PRIu64 " B", bytes);
        return;
    }
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(out, size, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, units[u]);
}

static unsigned
percent(uint64_t done, uint64_t total) {
    if (total == 0)
        return 100;
    if (done >= total)
        return 100;
    return (unsigned)((double)done * 100.0 / (double)total);
}

void
recoverProgressFormat(const RecoverProgress *p, bool bar, unsigned width, char *out, size_t size) {
    char done[32], total[32], eta[32], tail[256];
    unsigned pct = percent(p->transactions, p->transactionsTotal);
    uint64_t left = p->transactionsTotal > p->transactions ? p->transactionsTotal - p->transactions : 0;

    recoverFormatBytes(p->bytes, done, sizeof(done));
    recoverFormatBytes(p->bytesTotal, total, sizeof(total));
    recoverFormatDuration(recoverEta(left, p->rate), eta, sizeof(eta));
    if (size == 0)
        return;
    if (!bar) {
        if (p->phase == RECOVER_PHASE_CONNECTING) {
            snprintf(out, size, "waiting for the target to connect to the replication endpoint");
            return;
        }
        snprintf(out, size,
                 "applied %" PRIu64 " of %" PRIu64 " transactions (%u%%) and %s of %s of binlog, %.0f trx/s, %s left%s%s",
                 p->transactions, p->transactionsTotal, pct, done, total, p->rate, eta,
                 p->position && p->position[0] ? ", at gtid " : "", p->position ? p->position : "");
        return;
    }
    snprintf(tail, sizeof(tail), " %3u%%  %" PRIu64 "/%" PRIu64 " trx  %s/%s  %.0f trx/s  ETA %s", pct,
             p->transactions, p->transactionsTotal, done, total, p->rate, eta);
    if (p->phase == RECOVER_PHASE_CONNECTING)
        snprintf(tail, sizeof(tail), " waiting for the target to connect");
    else if (p->phase == RECOVER_PHASE_FINISHING)
        snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "  finishing");
    {
        size_t tailLen = strlen(tail), cells;
        size_t pos = 0;

        /* The bar takes what the numbers usually leave (its width does not follow theirs), between
         * 10 and 40 cells; a line longer than the terminal is cut. */
        cells = width > 72 + 10 ? width - 72 : 10;
        if (cells > 40)
            cells = 40;
        if (cells + 2 + tailLen + 1 > size) {
            snprintf(out, size, "%s", tail);
            return;
        }
        out[pos++] = '[';
        for (size_t i = 0; i < cells; i++)
            out[pos++] = i < cells * pct / 100 ? '#' : '.';
        out[pos++] = ']';
        memcpy(out + pos, tail, tailLen + 1);
        if (width > 0 && width < size && pos + tailLen > width)
            out[width] = '\0';
    }
}
