/*
 * binvault.json, the archive's identity (docs/FORMAT.md "Identity"): the format and its version,
 * and the server whose binlogs the archive holds.
 */
#ifndef BV_ARCHIVE_IDENTITY_H
#define BV_ARCHIVE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

typedef struct ArchiveIdentity {
    unsigned version; /* read: the format version, 1 to 3 (docs/FORMAT.md "Format 2", "Format 3") */
    BinlogFlavour flavour;
    uint32_t serverId;
    char serverUuid[37];
    char serverVersion[51];
    char source[256]; /* where the binlogs come from: "host:port", "import" */
    char created[32]; /* ISO-8601 UTC, set when the identity is written */
    bool encrypted;   /* read: binvault.json has encryption settings (every other object is encrypted) */
} ArchiveIdentity;

/* Read binvault.json (format 1 to 3), and learn the archive's segment naming from it. ERR_NOTFOUND when the archive has none (empty or not an archive),
 * ERR_FORMAT for a document that is not an archive identity or of an unknown format version. */
int archiveIdentityRead(Archive *a, ArchiveIdentity *id, Err *err);
/* Parse the text of a binvault.json (`len` bytes, any content): what archiveIdentityRead() does
 * with the object, without naming it in messages. ERR_FORMAT. */
int archiveIdentityParse(const char *text, size_t len, ArchiveIdentity *id, Err *err);
/* The identity of an archive about to receive binlogs of `source`: read it, or write it (created
 * = now, format version 3) when the archive has none. A stored identity of another flavour is refused (ERR_CONFIG,
 * naming both). *stored (may be NULL) receives what the archive holds. */
int archiveIdentityEnsure(Archive *a, const ArchiveIdentity *source, ArchiveIdentity *stored, Err *err);

/* Replace binvault.json (format 1) by the same document with version 2, every other member kept
 * byte for byte (step 4 of the upgrade, archive/upgrade.h). A document already at version 2 or 3
 * is left as it is. ERR_FORMAT for a document not laid out as binvault writes it. */
int archiveIdentitySetVersion2(Archive *a, Err *err);

#endif
