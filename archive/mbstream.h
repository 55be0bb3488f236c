/*
 * A streaming parser of the archive format of mariadb-backup (mbstream) and xtrabackup (xbstream),
 * pure (feed bytes, no I/O): `binvault backup` reads the tool's stream through it while storing
 * the stream, to check each chunk's CRC32 as it passes and to catch the small files it needs
 * (mariadb_backup_binlog_info / xtrabackup_binlog_info: the point the backup is consistent at).
 *
 * The stream is a sequence of chunks (little-endian):
 *   magic "XBSTCK01" | flags u8 (1: ignorable) | type u8 | path length u32 | path
 *   type 'E' (end of a file): nothing more
 *   type 'P' (payload), or an unknown type flagged ignorable:
 *       payload length u64 | offset in the file u64 | CRC32 of the payload u32 | payload
 * Any other chunk is refused (ERR_FORMAT): a chunk whose layout is not known cannot be skipped.
 * Limits: a path is shorter than 512 bytes (FN_REFLEN, as the tools' own readers); a payload is
 * at most MBSTREAM_PAYLOAD_MAX bytes; a watched file at most MBSTREAM_FILE_MAX. Memory: the chunk
 * header and the watched files, whatever the stream's size.
 */
#ifndef BV_ARCHIVE_MBSTREAM_H
#define BV_ARCHIVE_MBSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define MBSTREAM_MAGIC "XBSTCK01"
#define MBSTREAM_PATH_MAX 512
#define MBSTREAM_PAYLOAD_MAX (1024ULL * 1024 * 1024)
#define MBSTREAM_FILE_MAX (64 * 1024)
#define MBSTREAM_WATCH_MAX 4

typedef struct Mbstream Mbstream;

Mbstream *mbstreamNew(void);
/* Keep the content of the file `path` (as named in the stream) when it passes: at most
 * MBSTREAM_WATCH_MAX files. */
void mbstreamWatch(Mbstream *m, const char *path);
/* Parse `len` more bytes of the stream. ERR_FORMAT (a bad magic, path, type, or a chunk of a
 * watched file that is not contiguous), ERR_CHECKSUM (a payload's CRC32), ERR_LIMIT (sizes); the
 * message gives the offset in the stream. A parser that failed keeps failing. */
int mbstreamFeed(Mbstream *m, const uint8_t *data, size_t len, Err *err);
/* The stream ended: it must end at a chunk boundary, after at least one chunk (ERR_FORMAT). */
int mbstreamFinish(Mbstream *m, Err *err);
/* The content of a watched file (NULL when it was not in the stream); valid until mbstreamFree(). */
const uint8_t *mbstreamFile(const Mbstream *m, const char *path, size_t *len);
/* Chunks and distinct end-of-file markers seen so far. */
uint64_t mbstreamChunks(const Mbstream *m);
uint64_t mbstreamFilesEnded(const Mbstream *m);
void mbstreamFree(Mbstream *m);

#endif
