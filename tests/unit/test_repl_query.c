/* The SQL subset a replica sends (recover/repl_query.c): what MariaDB 10.11's I/O thread and
 * common clients send, statements it must refuse with a reason, hostile input, LIKE patterns. */
#include <string.h>

#include "common/mem.h"
#include "recover/replserver.h"
#include "tests/test.h"

static void
parse(const char *sql, ReplQuery *q) {
    replQueryParse(sql, strlen(sql), q);
}

static void
checkSetUserVar(const char *sql, const char *name, ReplExprKind kind, const char *value) {
    ReplQuery q;

    parse(sql, &q);
    if (q.kind != REPL_QUERY_SET || q.count != 1 || q.target[0].kind != REPL_EXPR_USERVAR ||
        strcmp(q.target[0].text, name) != 0 || q.value[0].kind != kind ||
        (value != NULL && (q.value[0].text == NULL || strcmp(q.value[0].text, value) != 0)))
        testFail(__FILE__, __LINE__, "'%s' not parsed as SET @%s = %s (kind %d, why %s)", sql, name,
                 value ? value : "?", (int)q.kind, q.why ? q.why : "-");
    replQueryClear(&q);
}

static void
testQueryParse(void) {
    ReplQuery q;

    /* What the MariaDB 10.11 I/O thread sends, in order. */
    parse("SELECT UNIX_TIMESTAMP()", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_INT(q.count, 1);
    CHECK_INT(q.value[0].kind, REPL_EXPR_FUNC);
    CHECK_STR(q.value[0].text, "unix_timestamp");
    CHECK_STR(q.value[0].label, "UNIX_TIMESTAMP()");
    replQueryClear(&q);
    parse("SHOW VARIABLES LIKE 'SERVER_ID'", &q);
    CHECK_INT(q.kind, REPL_QUERY_SHOW_VARIABLES);
    CHECK_STR(q.like, "SERVER_ID");
    replQueryClear(&q);
    checkSetUserVar("SET @master_heartbeat_period= 30000001024", "master_heartbeat_period", REPL_EXPR_INT,
                    "30000001024");
    parse("SET @master_binlog_checksum= @@global.binlog_checksum", &q);
    CHECK_INT(q.kind, REPL_QUERY_SET);
    CHECK_STR(q.target[0].text, "master_binlog_checksum");
    CHECK_INT(q.value[0].kind, REPL_EXPR_SYSVAR);
    CHECK_STR(q.value[0].text, "binlog_checksum");
    CHECK(q.value[0].global);
    replQueryClear(&q);
    parse("SELECT @master_binlog_checksum", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_INT(q.value[0].kind, REPL_EXPR_USERVAR);
    CHECK_STR(q.value[0].text, "master_binlog_checksum");
    CHECK_STR(q.value[0].label, "@master_binlog_checksum");
    replQueryClear(&q);
    checkSetUserVar("SET @mariadb_slave_capability=4", "mariadb_slave_capability", REPL_EXPR_INT, "4");
    parse("SELECT @@GLOBAL.gtid_domain_id", &q);
    CHECK_INT(q.value[0].kind, REPL_EXPR_SYSVAR);
    CHECK_STR(q.value[0].text, "gtid_domain_id");
    CHECK(q.value[0].global);
    CHECK_STR(q.value[0].label, "@@GLOBAL.gtid_domain_id");
    replQueryClear(&q);
    checkSetUserVar("SET @slave_connect_state='0-1-100,1-2-7'", "slave_connect_state", REPL_EXPR_STRING,
                    "0-1-100,1-2-7");
    checkSetUserVar("SET @slave_connect_state=''", "slave_connect_state", REPL_EXPR_STRING, "");
    checkSetUserVar("SET @slave_gtid_strict_mode=1", "slave_gtid_strict_mode", REPL_EXPR_INT, "1");
    checkSetUserVar("SET @slave_gtid_ignore_duplicates=0", "slave_gtid_ignore_duplicates", REPL_EXPR_INT, "0");
    checkSetUserVar("SET @slave_until_gtid='0-1-7,2-1-1'", "slave_until_gtid", REPL_EXPR_STRING, "0-1-7,2-1-1");

    /* What binvault's own client and the mariadb command line send. */
    parse("SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = "
          "@@global.binlog_checksum", &q);
    CHECK_INT(q.kind, REPL_QUERY_SET);
    CHECK_INT(q.count, 2);
    CHECK_STR(q.target[1].text, "source_binlog_checksum");
    replQueryClear(&q);
    parse("SELECT @@version, @@global.binlog_checksum, @@server_id", &q);
    CHECK_INT(q.count, 3);
    CHECK_STR(q.value[2].text, "server_id");
    CHECK(!q.value[2].global);
    replQueryClear(&q);
    parse("select @@version_comment limit 1", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_STR(q.value[0].text, "version_comment");
    replQueryClear(&q);
    parse("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.setNames && q.count == 0);
    replQueryClear(&q);

    /* Scopes, literals, aliases, comments. */
    parse("SET skip_replication=1", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.target[0].kind == REPL_EXPR_SYSVAR && !q.target[0].global);
    CHECK_STR(q.target[0].text, "skip_replication");
    replQueryClear(&q);
    parse("SET GLOBAL gtid_slave_pos = '1-2-3'", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.target[0].global);
    replQueryClear(&q);
    parse("SET @@session.sql_mode = STRICT_ALL_TABLES, autocommit = ON", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.count == 2 && q.value[1].kind == REPL_EXPR_STRING);
    CHECK_STR(q.value[1].text, "ON");
    replQueryClear(&q);
    checkSetUserVar("SET @a := -5;", "a", REPL_EXPR_INT, "-5");
    checkSetUserVar("set @S = 'it''s \\\\ \\n'", "s", REPL_EXPR_STRING, "it's \\ \n");
    checkSetUserVar("SET @`Odd Name` = NULL", "odd name", REPL_EXPR_NULL, NULL);
    parse("/* hi */ SELECT 1 AS one, 'x' two -- end", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_STR(q.value[0].label, "one");
    CHECK_STR(q.value[1].label, "two");
    replQueryClear(&q);
    parse("SELECT binlog_gtid_pos('mariadb-bin.000001', 4)", &q);
    CHECK(q.kind == REPL_QUERY_SELECT && q.value[0].kind == REPL_EXPR_FUNC);
    CHECK_STR(q.value[0].text, "binlog_gtid_pos");
    replQueryClear(&q);
    parse("SHOW GLOBAL VARIABLES", &q);
    CHECK(q.kind == REPL_QUERY_SHOW_VARIABLES && q.like == NULL);
    replQueryClear(&q);
}

static void
testQueryUnknown(void) {
    static const char *const unknown[] = {
        "",
        "   ",
        "SELECT * FROM mysql.user",
        "SELECT a FROM t",
        "INSERT INTO t VALUES (1)",
        "SHOW TABLES",
        "SET @x='unterminated",
        "SET @x",
        "SET = 1",
        "SELECT 1 a b",
        "SELECT (1)",
        "SELECT f(1,",
        "SET @@bogus.x = 1",
        "SELECT 1; DROP TABLE t",
        "SET @a=1,@b=2,@c=3,@d=4,@e=5,@f=6,@g=7,@h=8,@i=9,@j=10,@k=11,@l=12,@m=13,@n=14,@o=15,@p=16,@q=17",
        "SHOW VARIABLES LIKE x",
        "SET NAMES",
    };
    ReplQuery q;

    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        parse(unknown[i], &q);
        if (q.kind != REPL_QUERY_UNKNOWN || q.why == NULL)
            testFail(__FILE__, __LINE__, "'%s' was accepted (kind %d)", unknown[i], (int)q.kind);
        replQueryClear(&q);
    }
    /* Binary junk, NUL bytes and every prefix of a valid statement never crash. */
    {
        static const char junk[] = "SET @\0\xff'\\";
        const char *valid = "SET @master_binlog_checksum= @@global.binlog_checksum, @x = 'a''b'";

        replQueryParse(junk, sizeof(junk), &q);
        CHECK_INT(q.kind, REPL_QUERY_UNKNOWN);
        replQueryClear(&q);
        for (size_t n = 0; n <= strlen(valid); n++) {
            char *copy = bvStrndup(valid, n); /* exact-size allocation: ASan sees any over-read */

            replQueryParse(copy, n, &q);
            replQueryClear(&q);
            bvFree(copy);
        }
    }
}

static void
testLike(void) {
    CHECK(replLikeMatch("SERVER_ID", "server_id"));
    CHECK(replLikeMatch("server%", "server_id"));
    CHECK(replLikeMatch("%id", "server_id"));
    CHECK(replLikeMatch("%ver%", "server_id"));
    CHECK(replLikeMatch("s_rver_id", "server_id"));
    CHECK(!replLikeMatch("server", "server_id"));
    CHECK(!replLikeMatch("%x%", "server_id"));
    CHECK(replLikeMatch("%", ""));
    CHECK(replLikeMatch("", ""));
    CHECK(!replLikeMatch("_", ""));
    CHECK(replLikeMatch("a\\_b", "a_b"));
    CHECK(!replLikeMatch("a\\_b", "axb"));
    CHECK(replLikeMatch("%a%b%c", "xaybzc"));
}

void
suite_repl_query(void) {
    testRun("replserver: the replica's queries", testQueryParse);
    testRun("replserver: unsupported queries", testQueryUnknown);
    testRun("replserver: LIKE patterns", testLike);
}
