/*
 * The tables a DDL statement names (binlog/ddl.h): a small lexer (identifiers, `quoted`
 * identifiers, punctuation; comments, strings and numbers skipped) and the few statement shapes
 * that name tables.
 */
#include "binlog/ddl.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

typedef enum TokKind { TOK_END = 0, TOK_WORD, TOK_QUOTED, TOK_PUNCT, TOK_OTHER } TokKind;

typedef struct Tok {
    TokKind kind;
    const char *s; /* TOK_QUOTED: inside the backticks, `` not yet unescaped */
    size_t len;
} Tok;

typedef struct Lex {
    const char *p, *end;
} Lex;

static bool
wordChar(char c) {
    unsigned char u = (unsigned char)c;

    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' || u == '$' ||
           u >= 0x80;
}

/* Skip blanks and comments. MariaDB's executable comments (/ *!50001 ... * /, / *M!100100 ... * /)
 * hold statement text: only their markers are skipped. */
static void
lexSkip(Lex *x) {
    while (x->p < x->end) {
        const char *p = x->p;
        size_t left = (size_t)(x->end - p);

        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            x->p++;
        } else if (left >= 3 && p[0] == '/' && p[1] == '*' && (p[2] == '!' || (left >= 4 && p[2] == 'M' && p[3] == '!'))) {
            x->p += p[2] == '!' ? 3 : 4;
            while (x->p < x->end && *x->p >= '0' && *x->p <= '9')
                x->p++;
        } else if (left >= 2 && p[0] == '/' && p[1] == '*') {
            const char *close = NULL;

            for (const char *q = p + 2; q + 1 < x->end; q++)
                if (q[0] == '*' && q[1] == '/') {
                    close = q;
                    break;
                }
            x->p = close ? close + 2 : x->end;
        } else if (left >= 2 && p[0] == '*' && p[1] == '/') {
            x->p += 2;
        } else if (*p == '#' || (left >= 3 && p[0] == '-' && p[1] == '-' && (p[2] == ' ' || p[2] == '\t'))) {
            while (x->p < x->end && *x->p != '\n')
                x->p++;
        } else {
            return;
        }
    }
}

static Tok
lexNext(Lex *x) {
    Tok t = {TOK_END, NULL, 0};
    const char *p;

    lexSkip(x);
    if (x->p >= x->end)
        return t;
    p = x->p;
    t.s = p;
    if (*p == '`') {
        const char *q = p + 1;

        /* A doubled backtick is one inside the name. */
        while (q < x->end && !(*q == '`' && !(q + 1 < x->end && q[1] == '`')))
            q += *q == '`' ? 2 : 1;
        if (q >= x->end) {
            x->p = x->end;
            t.kind = TOK_OTHER;
            return t;
        }
        t.kind = TOK_QUOTED;
        t.s = p + 1;
        t.len = (size_t)(q - p - 1);
        x->p = q + 1;
    } else if (*p == '\'' || *p == '"') {
        const char *q = p + 1;

        while (q < x->end && *q != *p)
            q += *q == '\\' && q + 1 < x->end ? 2 : 1;
        x->p = q < x->end ? q + 1 : x->end;
        t.kind = TOK_OTHER;
    } else if (wordChar(*p)) {
        while (x->p < x->end && wordChar(*x->p))
            x->p++;
        t.kind = TOK_WORD;
        t.len = (size_t)(x->p - p);
    } else {
        x->p++;
        t.kind = TOK_PUNCT;
        t.len = 1;
    }
    return t;
}

static bool
isWord(Tok t, const char *word) {
    return t.kind == TOK_WORD && t.len == strlen(word) && strncasecmp(t.s, word, t.len) == 0;
}

static bool
isPunct(Tok t, char c) {
    return t.kind == TOK_PUNCT && t.s[0] == c;
}

/* The identifier t, unquoted into out; false when t is none or too long. */
static bool
identCopy(Tok t, char *out, size_t *len) {
    size_t n = 0;

    if (t.kind != TOK_WORD && t.kind != TOK_QUOTED)
        return false;
    for (size_t i = 0; i < t.len; i++) {
        if (n >= BINLOG_DDL_NAME_MAX)
            return false;
        out[n++] = t.s[i];
        if (t.kind == TOK_QUOTED && t.s[i] == '`')
            i++;
    }
    *len = n;
    return n > 0;
}

typedef struct Ddl {
    Lex x;
    Tok t; /* the current token */
    const char *db;
    size_t dbLen;
    BinlogDdlTableFn *fn;
    void *ctx;
} Ddl;

static void
advance(Ddl *d) {
    d->t = lexNext(&d->x);
}

/* Skip the optional words (e.g. "IF", "NOT", "EXISTS") in that order. */
static void
skipWords(Ddl *d, const char *const *words) {
    for (; *words != NULL; words++)
        if (isWord(d->t, *words))
            advance(d);
}

/* [db.]table at the current token: reported, and the token after it is current. */
static bool
tableName(Ddl *d) {
    char first[BINLOG_DDL_NAME_MAX], second[BINLOG_DDL_NAME_MAX];
    size_t n1, n2;

    if (!identCopy(d->t, first, &n1))
        return false;
    advance(d);
    if (!isPunct(d->t, '.')) {
        d->fn(d->ctx, d->db, d->dbLen, first, n1);
        return true;
    }
    advance(d);
    if (!identCopy(d->t, second, &n2))
        return false;
    advance(d);
    d->fn(d->ctx, first, n1, second, n2);
    return true;
}

/* name [, name]... */
static void
tableList(Ddl *d) {
    while (tableName(d) && isPunct(d->t, ','))
        advance(d);
}

/* [IF [NOT] EXISTS] index ON table */
static void
indexOn(Ddl *d) {
    static const char *const ifExists[] = {"IF", "NOT", "EXISTS", NULL};

    skipWords(d, ifExists);
    if (d->t.kind != TOK_WORD && d->t.kind != TOK_QUOTED)
        return;
    advance(d);
    if (isWord(d->t, "ON")) {
        advance(d);
        tableName(d);
    }
}

/* ALTER TABLE name ...: the name, and a new one after RENAME [TO | AS]. */
static void
alterTable(Ddl *d) {
    static const char *const toAs[] = {"TO", "AS", NULL};

    if (!tableName(d))
        return;
    while (d->t.kind != TOK_END) {
        if (isWord(d->t, "RENAME")) {
            advance(d);
            if (isWord(d->t, "COLUMN") || isWord(d->t, "INDEX") || isWord(d->t, "KEY"))
                continue;
            skipWords(d, toAs);
            tableName(d);
            continue;
        }
        advance(d);
    }
}

/* RENAME TABLE a [WAIT n | NOWAIT] TO b [, c TO d]... */
static void
renameTables(Ddl *d) {
    for (;;) {
        if (!tableName(d))
            return;
        if (isWord(d->t, "WAIT")) {
            advance(d);
            advance(d);
        } else if (isWord(d->t, "NOWAIT")) {
            advance(d);
        }
        if (!isWord(d->t, "TO"))
            return;
        advance(d);
        if (!tableName(d) || !isPunct(d->t, ','))
            return;
        advance(d);
    }
}

void
binlogDdlTables(const char *sql, size_t len, const char *db, size_t dbLen, BinlogDdlTableFn *fn, void *ctx) {
    static const char *const ifExists[] = {"IF", "NOT", "EXISTS", NULL};
    static const char *const createLead[] = {"OR", "REPLACE", "TEMPORARY", NULL};
    static const char *const indexKind[] = {"UNIQUE", "FULLTEXT", "SPATIAL", NULL};
    static const char *const alterLead[] = {"ONLINE", "IGNORE", NULL};
    Ddl d = {{sql, sql + len}, {TOK_END, NULL, 0}, db, dbLen, fn, ctx};

    advance(&d);
    if (isWord(d.t, "CREATE")) {
        advance(&d);
        skipWords(&d, createLead);
        if (isWord(d.t, "TABLE")) {
            advance(&d);
            skipWords(&d, ifExists);
            tableName(&d);
            return;
        }
        skipWords(&d, indexKind);
        if (isWord(d.t, "INDEX")) {
            advance(&d);
            indexOn(&d);
        }
    } else if (isWord(d.t, "DROP")) {
        advance(&d);
        if (isWord(d.t, "TEMPORARY"))
            advance(&d);
        if (isWord(d.t, "TABLE") || isWord(d.t, "TABLES")) {
            advance(&d);
            skipWords(&d, ifExists);
            tableList(&d);
        } else if (isWord(d.t, "INDEX")) {
            advance(&d);
            indexOn(&d);
        }
    } else if (isWord(d.t, "ALTER")) {
        advance(&d);
        skipWords(&d, alterLead);
        if (isWord(d.t, "TABLE")) {
            advance(&d);
            skipWords(&d, ifExists);
            alterTable(&d);
        }
    } else if (isWord(d.t, "RENAME")) {
        advance(&d);
        if (isWord(d.t, "TABLE") || isWord(d.t, "TABLES")) {
            advance(&d);
            renameTables(&d);
        }
    } else if (isWord(d.t, "TRUNCATE")) {
        advance(&d);
        if (isWord(d.t, "TABLE"))
            advance(&d);
        tableName(&d);
    }
}
