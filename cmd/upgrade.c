/*
 * binvault upgrade: archiveUpgrade() (archive/upgrade.h) moves a format-1 archive to format 2 in
 * place, or completes the catalog of a format-2 one; --dry-run says what it would do. Every writer
 * does the same on its own when it opens a format-1 archive: this command does it at a chosen time.
 */
#include <stddef.h>
#include <stdio.h>

#include "archive/archive.h"
#include "archive/upgrade.h"
#include "cmd/cmd.h"

typedef struct UpgradeOpts {
    char *archive;
    StorageOptions storage;
    bool dryRun;
} UpgradeOpts;

#define UPGRADE_STORAGE(field) offsetof(UpgradeOpts, storage.field)

static const OptDef upgradeDefs[] = {
    CMD_ARCHIVE_OPTDEFS(offsetof(UpgradeOpts, archive), UPGRADE_STORAGE),
    {"dry-run", OPT_BOOL, NULL, 0, 0, 0, offsetof(UpgradeOpts, dryRun), NULL, "say what would be done; write nothing",
     NULL, NULL},
};

static const OptSet upgradeSet = {
    "upgrade",
    "binvault upgrade --archive URL [--dry-run]",
    "Upgrades a format-1 archive to format 2 in place (docs/FORMAT.md \"Upgrade of a format-1\n"
    "archive\"): the record of timeline 1, the aligned block chunks of the index and the catalog\n"
    "summaries that let every command read only what it needs, then binvault.json at version 2, then\n"
    "the index chunks the block chunks replace. Safe to interrupt at any moment and to run again; an\n"
    "archive already at format 2 gets the summaries it lacks. Stop older binvault agents writing to\n"
    "the archive first: they refuse a format-2 archive. The agent, import, prune and backup upgrade\n"
    "an archive on their own when they open it.\n\n" CMD_STORAGE_HELP,
    upgradeDefs,
    sizeof(upgradeDefs) / sizeof(upgradeDefs[0]),
    NULL,
    0,
    0,
};

int
cmdUpgrade(int argc, char **argv) {
    UpgradeOpts o = {0};
    ArchiveUpgradeReport rep;
    Storage *storage;
    Archive *a;
    Err err = {0};
    int rc;

    if (!cmdOptions(&upgradeSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    if ((storage = cmdOpenArchive(o.archive, &o.storage, &err)) == NULL) {
        optFree(&upgradeSet, &o);
        return cmdFail(&err);
    }
    a = archiveNew(storage);
    rc = archiveUpgrade(a, o.dryRun, &rep, &err);
    if (rc == 0) {
        printf("%s format %u archive '%s': %zu complete blocks, %zu block chunks, %zu catalog summaries, %zu "
               "index chunks removed%s\n",
               o.dryRun ? "would upgrade the" : "upgraded the", rep.fromVersion, archiveUrl(a), rep.blocks,
               rep.blockChunks, rep.summaries, rep.chunksRemoved,
               rep.identityWritten ? (o.dryRun ? "; binvault.json would move to version 2" : "; binvault.json is at version 2")
                                   : "");
        rc = 0;
    } else {
        rc = cmdFail(&err);
    }
    archiveFree(a);
    storageFree(storage);
    optFree(&upgradeSet, &o);
    return rc;
}
