/*
 * What the files of base backups (backup_store.c, backup_write.c) share and nobody else uses: object
 * names, the manifest, parts.bvi lines and part trailers as JSON (docs/FORMAT.md, "Base backups").
 */
#ifndef BV_ARCHIVE_BACKUP_INTERNAL_H
#define BV_ARCHIVE_BACKUP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "archive/backup_store.h"
#include "archive/segment.h"
#include "common/buf.h"
#include "storage/storage.h"

/* The container of parts: the segment container with the BVPRT magics. */
extern const SegmentContainer archiveBackupPartContainer;

/* manifest.json's parts_index. */
typedef struct ArchiveBackupIndexRef {
    char name[STORAGE_NAME_MAX];
    uint64_t size;
    char sha256[65];
} ArchiveBackupIndexRef;

/* A line of parts.bvi; the trailer of a part holds the same less name, size and sha256. */
typedef struct ArchiveBackupPart {
    uint32_t part;
    uint64_t offset, contentLen;
    char contentSha256[65];
    char name[STORAGE_NAME_MAX];
    uint64_t size;
    char sha256[65];
} ArchiveBackupPart;

/* backups/<id>/<leaf>, and backups/<id>/parts/<part, 8 digits>.bvp */
void archiveBackupObjectName(const char *id, const char *leaf, char *out, size_t size);
void archiveBackupPartName(const char *id, uint32_t part, char *out, size_t size);

/* The manifest of `b` (one line, no newline), naming parts.bvi with its size and SHA-256. */
void archiveBackupManifestToJson(const ArchiveBackup *b, const char *partsIndexSha256, uint64_t partsIndexSize,
                                 Buf *out);
/* Parse and check a manifest; b->gtidState is allocated on success only. ERR_FORMAT / ERR_LIMIT. */
int archiveBackupManifestParse(const char *text, size_t len, ArchiveBackup *b, ArchiveBackupIndexRef *idx, Err *err);

/* Read and check the manifest of backup `id` (it must describe `id`); messages name the object.
 * b->gtidState is allocated on success only. */
int archiveBackupReadManifest(Archive *a, const char *id, ArchiveBackup *b, ArchiveBackupIndexRef *idx, Err *err);

/* A part's trailer (withObject false) or parts.bvi line (true), one line without newline. */
void archiveBackupPartToJson(const char *id, const ArchiveBackupPart *p, bool withObject, Buf *out);
/* Parse one; with `withObject`, name must be the part's name in backup `id`. ERR_FORMAT. */
int archiveBackupPartParse(const char *id, const char *text, size_t len, bool withObject, ArchiveBackupPart *p,
                           Err *err);

#endif
