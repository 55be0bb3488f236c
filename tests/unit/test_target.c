/* The recovery target's privilege check (recover/target.h): which global privileges the lines of
 * SHOW GRANTS hold, per server version, with SUPER, ALL PRIVILEGES and roles. The check against a
 * live least-privilege user: tests/integration/recover_grants.sh. */
#include <string.h>

#include "recover/target.h"
#include "tests/test.h"

#define V1011 101119
#define MIN_GRANTS "GRANT REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD ON *.* TO `lp`@`%`\n"

typedef struct Found {
    char needed[512], missing[512], why[512];
} Found;

static void
missing(const char *grants, unsigned version, bool swap, Found *f) {
    recoverGrantsMissing(grants, version, swap, f->needed, f->missing, f->why, sizeof(f->needed));
}

static void
testGrantsSplitPrivileges(void) {
    Found f;

    missing("GRANT RELOAD, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, SLAVE MONITOR ON *.* TO `lp`@`%`\n", V1011,
            true, &f);
    CHECK_STR(f.missing, "");
    CHECK_STR(f.needed, "REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD, REPLICATION MASTER ADMIN");
    CHECK_STR(f.why, "");
    /* No server_id swap: REPLICATION MASTER ADMIN is not needed. */
    missing(MIN_GRANTS, V1011, false, &f);
    CHECK_STR(f.missing, "");
    CHECK_STR(f.needed, "REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD");
    missing(MIN_GRANTS, V1011, true, &f);
    CHECK_STR(f.missing, "REPLICATION MASTER ADMIN");
    CHECK_MSG(f.why, "REPLICATION MASTER ADMIN (SET GLOBAL server_id");
    /* Every missing one at once, each with what it is for. */
    missing("GRANT USAGE ON *.* TO `lp`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'\n"
            "GRANT REPLICATION SLAVE ADMIN ON *.* TO `lp`@`%`\n",
            V1011, true, &f);
    CHECK_STR(f.missing, "SLAVE MONITOR, RELOAD, REPLICATION MASTER ADMIN");
    CHECK_MSG(f.why, "SLAVE MONITOR (SHOW ALL SLAVES STATUS)");
    CHECK_MSG(f.why, "RELOAD (RESET SLAVE ... ALL, the cleanup)");
    /* Nothing at all. */
    missing("GRANT USAGE ON *.* TO `lp`@`%`\n", V1011, false, &f);
    CHECK_STR(f.missing, "REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD");
    missing("", V1011, false, &f);
    CHECK_STR(f.missing, "REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD");
}

/* Names are matched whole, on global grants only. */
static void
testGrantsExactGlobal(void) {
    Found f;

    missing("GRANT REPLICATION SLAVE, REPLICATION CLIENT, RELOAD ON *.* TO `lp`@`%`\n", V1011, false, &f);
    CHECK_STR(f.missing, "REPLICATION SLAVE ADMIN, SLAVE MONITOR");
    missing("GRANT ALL PRIVILEGES ON `shop`.* TO `lp`@`%`\nGRANT SUPER ON `shop`.`orders` TO `lp`@`%`\n", V1011, true,
            &f);
    CHECK_STR(f.missing, "REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD, REPLICATION MASTER ADMIN");
    /* A role's line, as SHOW GRANTS prints it for the current role, counts. */
    missing("GRANT `dba` TO `lp`@`%`\nGRANT USAGE ON *.* TO `lp`@`%`\n"
            "GRANT RELOAD, REPLICATION SLAVE ADMIN, SLAVE MONITOR ON *.* TO `dba`\n",
            V1011, false, &f);
    CHECK_STR(f.missing, "");
    /* No trailing newline, lower case. */
    missing("GRANT reload, replication slave admin, slave monitor ON *.* TO `lp`@`%` WITH GRANT OPTION", V1011, false,
            &f);
    CHECK_STR(f.missing, "");
}

static void
testGrantsSuperAndAll(void) {
    Found f;

    missing("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION\n", V1011, true, &f);
    CHECK_STR(f.missing, "");
    /* SUPER holds the replication privileges until 11.0, never RELOAD. */
    missing("GRANT SUPER ON *.* TO `lp`@`%`\n", V1011, true, &f);
    CHECK_STR(f.missing, "RELOAD");
    missing("GRANT RELOAD, SUPER ON *.* TO `lp`@`%`\n", V1011, true, &f);
    CHECK_STR(f.missing, "");
    missing("GRANT RELOAD, SUPER ON *.* TO `lp`@`%`\n", 110202, true, &f);
    CHECK_STR(f.missing, "REPLICATION SLAVE ADMIN, SLAVE MONITOR, REPLICATION MASTER ADMIN");
}

/* Before 10.5.2 the replication privileges were SUPER; SLAVE MONITOR came in 10.5.9. */
static void
testGrantsOlderServers(void) {
    Found f;

    missing("GRANT RELOAD ON *.* TO `lp`@`%`\n", 100422, true, &f);
    CHECK_STR(f.needed, "SUPER, RELOAD");
    CHECK_STR(f.missing, "SUPER");
    missing("GRANT RELOAD, REPLICATION SLAVE ADMIN ON *.* TO `lp`@`%`\n", 100505, false, &f);
    CHECK_STR(f.needed, "REPLICATION SLAVE ADMIN, RELOAD");
    CHECK_STR(f.missing, "");
}

void suite_target(void);

void
suite_target(void) {
    testRun("target: the split replication privileges, every missing one at once", testGrantsSplitPrivileges);
    testRun("target: whole privilege names, global grants only, roles, any case", testGrantsExactGlobal);
    testRun("target: SUPER until 11.0 (never RELOAD), ALL PRIVILEGES", testGrantsSuperAndAll);
    testRun("target: servers before 10.5.2 and 10.5.9", testGrantsOlderServers);
}
