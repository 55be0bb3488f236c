/* Unit tests of archive/identity: binvault.json read, created, refused. */
#include "archive/archive.h"
#include "archive/identity.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

static void
testIdentity(void) {
    ArchiveFixture s;
    ArchiveIdentity id, got, other;
    Err err = {0};

    REQUIRE(fixtureOpen(&s, 0) == 0);
    CHECK(archiveIdentityRead(s.archive, &got, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "binvault.json");
    memset(&id, 0, sizeof(id));
    id.flavour = BINLOG_FLAVOUR_MARIADB;
    id.serverId = 11;
    snprintf(id.serverVersion, sizeof(id.serverVersion), "10.11.19-MariaDB-log");
    snprintf(id.source, sizeof(id.source), "127.0.0.1:3306");
    REQUIRE(archiveIdentityEnsure(s.archive, &id, &got, &err) == 0);
    CHECK(got.created[0] != '\0');
    REQUIRE(archiveIdentityRead(s.archive, &got, &err) == 0);
    CHECK_INT(got.flavour, BINLOG_FLAVOUR_MARIADB);
    CHECK_INT(got.serverId, 11);
    CHECK_STR(got.source, "127.0.0.1:3306");
    CHECK_STR(got.serverVersion, "10.11.19-MariaDB-log");
    /* Again: read, not rewritten. */
    id.serverId = 12;
    REQUIRE(archiveIdentityEnsure(s.archive, &id, &other, &err) == 0);
    CHECK_INT(other.serverId, 11);
    CHECK_STR(other.created, got.created);
    /* Another flavour is refused. */
    id.flavour = BINLOG_FLAVOUR_MYSQL;
    CHECK(archiveIdentityEnsure(s.archive, &id, NULL, &err) != 0);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK(strstr(err.msg, "holds mariadb binlogs") != NULL && strstr(err.msg, "mysql") != NULL);
    /* A later format, or not an identity. */
    REQUIRE(storageRemove(s.storage, "binvault.json", &err) == 0);
    {
        const char *v4 = "{\"format\":\"binvault-archive\",\"version\":4}";

        REQUIRE(storagePutBuf(s.storage, "binvault.json", v4, strlen(v4), STORAGE_PUT_REPLACE, &err) == 0);
        CHECK(archiveIdentityRead(s.archive, &got, &err) != 0);
        CHECK_MSG(err.msg, "version 4 is not supported");
        CHECK(archiveIdentityEnsure(s.archive, &id, NULL, &err) != 0);
        REQUIRE(storagePutBuf(s.storage, "binvault.json", "[]", 2, STORAGE_PUT_REPLACE, &err) == 0);
        CHECK(archiveIdentityRead(s.archive, &got, &err) != 0);
        CHECK_INT(err.code, ERR_FORMAT);
    }
    fixtureClose(&s);
}

void
suite_identity(void) {
    testRun("archive: identity", testIdentity);
}
