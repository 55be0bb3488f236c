/*
 * A segment's labels checked against its content (docs/FORMAT.md "Segments"): the GTID state
 * after its last transaction (server ids included for MariaDB), the state a file's GTID_LIST or
 * PREVIOUS_GTIDS event gives before its first transaction, the first and last GTID, the number of
 * transactions and their commit times. `verify` runs it over every event it reads, so that a
 * segment whose trailer (and index line) was altered, checksums recomputed, is caught.
 */
#ifndef BV_ARCHIVE_LABELS_H
#define BV_ARCHIVE_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "archive/segment.h"

typedef struct SegmentLabels SegmentLabels;

/* Start checking the content of a segment whose trailer is `trailer` (copied). */
SegmentLabels *segmentLabelsNew(const SegmentMeta *trailer);
/* The next event of the content's file range (as segmentReaderNext() gives it, under fmt). A
 * content that cannot be framed is reported by segmentLabelsFinish(). */
void segmentLabelsPush(SegmentLabels *l, const BinlogFormat *fmt, const BinlogEvent *ev, uint64_t pos);
/* After the last event: out (of `size` bytes) receives "" when every label matches the content,
 * else what disagrees ("gtid_end says '0-1-9' but its transactions end at '0-1-8'; ..."). */
void segmentLabelsFinish(SegmentLabels *l, char *out, size_t size);
void segmentLabelsFree(SegmentLabels *l);

#endif
