/*
 * The SQL subset a connecting replica sends (see replQueryParse() in replserver.h): a lexer and
 * a recursive-descent parser over SET, SELECT without FROM and SHOW VARIABLES, and SQL LIKE
 * matching. Pure: no session state, no I/O; what it does not understand it reports, with why.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "recover/replserver.h"

typedef enum TokKind { TOK_END, TOK_WORD, TOK_INT, TOK_STRING, TOK_USERVAR, TOK_SYSVAR, TOK_PUNCT, TOK_BAD } TokKind;

typedef struct Tok {
    TokKind kind;
    const char *start; /* the raw token, quotes and @ included */
    size_t len;
} Tok;

typedef struct Lex {
    const char *p, *end;
    const char *prevEnd; /* end of the token consumed last */
    Tok tok;             /* the current token */
} Lex;

static bool
isWordStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static bool
isWordChar(char c) {
    return isWordStart(c) || (c >= '0' && c <= '9');
}

static bool
isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void
lexSkip(Lex *lx) {
    for (;;) {
        while (lx->p < lx->end && isSpace(*lx->p))
            lx->p++;
        if (lx->end - lx->p >= 2 && lx->p[0] == '/' && lx->p[1] == '*') {
            const char *q = lx->p + 2;

            while (q + 1 < lx->end && !(q[0] == '*' && q[1] == '/'))
                q++;
            lx->p = q + 1 < lx->end ? q + 2 : lx->end;
            continue;
        }
        if ((lx->p < lx->end && lx->p[0] == '#') ||
            (lx->end - lx->p >= 2 && lx->p[0] == '-' && lx->p[1] == '-' &&
             (lx->end - lx->p == 2 || isSpace(lx->p[2])))) {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
            continue;
        }
        return;
    }
}

/* Length of a quoted token starting at p (quote q), or 0 when it is not terminated. */
static size_t
quotedLen(const char *p, const char *end) {
    char q = p[0];

    for (const char *c = p + 1; c < end; c++) {
        if (*c == '\\' && q != '`') {
            c++;
            continue;
        }
        if (*c == q) {
            if (c + 1 < end && c[1] == q) {
                c++;
                continue;
            }
            return (size_t)(c + 1 - p);
        }
    }
    return 0;
}

static size_t
wordLen(const char *p, const char *end) {
    size_t n = 0;

    if (p < end && *p == '`')
        return quotedLen(p, end);
    while (p + n < end && isWordChar(p[n]))
        n++;
    return n;
}

static void
lexNext(Lex *lx) {
    const char *p;
    size_t n = 0;

    lx->prevEnd = lx->tok.start ? lx->tok.start + lx->tok.len : lx->p;
    lexSkip(lx);
    p = lx->p;
    lx->tok.start = p;
    if (p >= lx->end) {
        lx->tok.kind = TOK_END;
        lx->tok.len = 0;
        return;
    }
    if (isWordStart(*p) || *p == '`') {
        lx->tok.kind = TOK_WORD;
        n = wordLen(p, lx->end);
    } else if (*p >= '0' && *p <= '9') {
        lx->tok.kind = TOK_INT;
        while (p + n < lx->end && ((p[n] >= '0' && p[n] <= '9') || p[n] == '.'))
            n++;
        if (p + n < lx->end && isWordChar(p[n]))
            n = 0;
    } else if (*p == '\'' || *p == '"') {
        lx->tok.kind = TOK_STRING;
        n = quotedLen(p, lx->end);
    } else if (*p == '@' && lx->end - p >= 2 && p[1] == '@') {
        size_t w = wordLen(p + 2, lx->end);

        lx->tok.kind = TOK_SYSVAR;
        n = w ? 2 + w : 0;
        if (n && p + n < lx->end && p[n] == '.') {
            w = wordLen(p + n + 1, lx->end);
            n = w ? n + 1 + w : 0;
        }
    } else if (*p == '@') {
        size_t w = (lx->end - p >= 2 && (p[1] == '\'' || p[1] == '"')) ? quotedLen(p + 1, lx->end)
                                                                       : wordLen(p + 1, lx->end);

        lx->tok.kind = TOK_USERVAR;
        n = w ? 1 + w : 0;
    } else if (strchr("=,();.-:*+", *p) != NULL) {
        lx->tok.kind = TOK_PUNCT;
        n = 1;
    }
    if (n == 0) {
        lx->tok.kind = TOK_BAD;
        n = 1;
    }
    lx->tok.len = n;
    lx->p = p + n;
}

static bool
tokIsWord(const Tok *t, const char *word) {
    return t->kind == TOK_WORD && strlen(word) == t->len && strncasecmp(t->start, word, t->len) == 0;
}

static bool
tokIsPunct(const Tok *t, char c) {
    return t->kind == TOK_PUNCT && t->start[0] == c;
}

/* The text of a quoted token without its quotes and escapes, allocated. */
static char *
unquote(const char *p, size_t len) {
    char q = p[0], *out = bvMalloc(len), *o = out;

    for (size_t i = 1; i + 1 < len; i++) {
        char c = p[i];

        if (c == '\\' && q != '`' && i + 2 < len) {
            c = p[++i];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case 'Z': c = '\032'; break;
            default: break;
            }
        } else if (c == q) {
            i++; /* a doubled quote */
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

/* A name (word or quoted), lowercased, allocated. */
static char *
nameText(const char *p, size_t len) {
    char *s = (p[0] == '`' || p[0] == '\'' || p[0] == '"') ? unquote(p, len) : bvStrndup(p, len);

    for (char *c = s; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return s;
}

static void
exprClear(ReplExpr *e) {
    bvFree(e->text);
    bvFree(e->label);
    memset(e, 0, sizeof(*e));
}

/* @@[scope.]name of token t into e (SYSVAR). */
static bool
parseSysvar(const Tok *t, ReplExpr *e, const char **why) {
    const char *p = t->start + 2, *end = t->start + t->len;
    const char *dot = memchr(p, '.', (size_t)(end - p));

    e->kind = REPL_EXPR_SYSVAR;
    if (dot != NULL) {
        size_t sl = (size_t)(dot - p);

        if (sl == 6 && strncasecmp(p, "global", 6) == 0)
            e->global = true;
        else if (!((sl == 7 && strncasecmp(p, "session", 7) == 0) || (sl == 5 && strncasecmp(p, "local", 5) == 0))) {
            *why = "unknown variable scope";
            return false;
        }
        p = dot + 1;
    }
    e->text = nameText(p, (size_t)(end - p));
    return true;
}

static bool parseExpr(Lex *lx, ReplExpr *e, const char **why);

static bool
parseArgs(Lex *lx, const char **why) {
    lexNext(lx); /* ( */
    if (tokIsPunct(&lx->tok, ')')) {
        lexNext(lx);
        return true;
    }
    for (;;) {
        ReplExpr arg = {0};
        bool ok = parseExpr(lx, &arg, why);

        exprClear(&arg);
        if (!ok)
            return false;
        if (tokIsPunct(&lx->tok, ')')) {
            lexNext(lx);
            return true;
        }
        if (!tokIsPunct(&lx->tok, ',')) {
            *why = "malformed function arguments";
            return false;
        }
        lexNext(lx);
    }
}

static bool
parseExpr(Lex *lx, ReplExpr *e, const char **why) {
    const char *start = lx->tok.start;
    Tok t = lx->tok;

    memset(e, 0, sizeof(*e));
    if (tokIsPunct(&t, '-')) {
        lexNext(lx);
        if (lx->tok.kind != TOK_INT) {
            *why = "expected a number after '-'";
            return false;
        }
        e->kind = REPL_EXPR_INT;
        e->text = bvSprintf("-%.*s", (int)lx->tok.len, lx->tok.start);
        lexNext(lx);
    } else if (t.kind == TOK_INT) {
        e->kind = REPL_EXPR_INT;
        e->text = bvStrndup(t.start, t.len);
        lexNext(lx);
    } else if (t.kind == TOK_STRING) {
        e->kind = REPL_EXPR_STRING;
        e->text = unquote(t.start, t.len);
        lexNext(lx);
    } else if (t.kind == TOK_USERVAR) {
        e->kind = REPL_EXPR_USERVAR;
        e->text = nameText(t.start + 1, t.len - 1);
        lexNext(lx);
    } else if (t.kind == TOK_SYSVAR) {
        if (!parseSysvar(&t, e, why))
            return false;
        lexNext(lx);
    } else if (t.kind == TOK_WORD) {
        lexNext(lx);
        if (tokIsPunct(&lx->tok, '(')) {
            e->kind = REPL_EXPR_FUNC;
            e->text = nameText(t.start, t.len);
            if (!parseArgs(lx, why))
                return false;
        } else if (tokIsWord(&t, "NULL")) {
            e->kind = REPL_EXPR_NULL;
        } else if (tokIsWord(&t, "TRUE") || tokIsWord(&t, "FALSE")) {
            e->kind = REPL_EXPR_INT;
            e->text = bvStrdup(tokIsWord(&t, "TRUE") ? "1" : "0");
        } else {
            e->kind = REPL_EXPR_STRING; /* SET sql_mode=STRICT, SET autocommit=ON */
            e->text = t.start[0] == '`' ? unquote(t.start, t.len) : bvStrndup(t.start, t.len);
        }
    } else {
        *why = "expected a value";
        return false;
    }
    e->label = bvStrndup(start, (size_t)(lx->prevEnd - start));
    return true;
}

static bool
expectEnd(Lex *lx, const char **why) {
    if (tokIsPunct(&lx->tok, ';'))
        lexNext(lx);
    if (lx->tok.kind != TOK_END) {
        *why = "unexpected text after the statement";
        return false;
    }
    return true;
}

/* NAMES x [COLLATE y] / CHARACTER SET x, after SET. */
static bool
parseSetNames(Lex *lx, ReplQuery *q, const char **why) {
    if (tokIsWord(&lx->tok, "CHARACTER")) {
        lexNext(lx);
        if (!tokIsWord(&lx->tok, "SET")) {
            *why = "expected SET after CHARACTER";
            return false;
        }
    }
    lexNext(lx);
    if (lx->tok.kind != TOK_WORD && lx->tok.kind != TOK_STRING) {
        *why = "expected a character set name";
        return false;
    }
    lexNext(lx);
    if (tokIsWord(&lx->tok, "COLLATE")) {
        lexNext(lx);
        if (lx->tok.kind != TOK_WORD && lx->tok.kind != TOK_STRING) {
            *why = "expected a collation name";
            return false;
        }
        lexNext(lx);
    }
    q->setNames = true;
    return true;
}

static bool
parseSet(Lex *lx, ReplQuery *q, const char **why) {
    lexNext(lx);
    if (tokIsWord(&lx->tok, "NAMES") || tokIsWord(&lx->tok, "CHARACTER"))
        return parseSetNames(lx, q, why) && expectEnd(lx, why);
    for (;;) {
        ReplExpr *target = &q->target[q->count];
        bool global = false;
        Tok t;

        if (q->count == REPL_QUERY_MAX_ITEMS) {
            *why = "too many assignments";
            return false;
        }
        if (tokIsWord(&lx->tok, "GLOBAL")) {
            global = true;
            lexNext(lx);
        } else if (tokIsWord(&lx->tok, "SESSION") || tokIsWord(&lx->tok, "LOCAL")) {
            lexNext(lx);
        }
        t = lx->tok;
        if (t.kind == TOK_USERVAR && !global) {
            target->kind = REPL_EXPR_USERVAR;
            target->text = nameText(t.start + 1, t.len - 1);
        } else if (t.kind == TOK_SYSVAR) {
            if (!parseSysvar(&t, target, why))
                return false;
            target->global = target->global || global;
        } else if (t.kind == TOK_WORD) {
            target->kind = REPL_EXPR_SYSVAR;
            target->text = nameText(t.start, t.len);
            target->global = global;
        } else {
            *why = "expected a variable to set";
            return false;
        }
        target->label = bvStrndup(t.start, t.len);
        q->count++;
        lexNext(lx);
        if (tokIsPunct(&lx->tok, ':'))
            lexNext(lx);
        if (!tokIsPunct(&lx->tok, '=')) {
            *why = "expected '=' in SET";
            return false;
        }
        lexNext(lx);
        if (!parseExpr(lx, &q->value[q->count - 1], why))
            return false;
        if (!tokIsPunct(&lx->tok, ','))
            break;
        lexNext(lx);
    }
    return expectEnd(lx, why);
}

static bool
parseSelect(Lex *lx, ReplQuery *q, const char **why) {
    lexNext(lx);
    for (;;) {
        ReplExpr *e = &q->value[q->count];

        if (q->count == REPL_QUERY_MAX_ITEMS) {
            *why = "too many columns";
            return false;
        }
        q->count++;
        if (!parseExpr(lx, e, why))
            return false;
        if (tokIsWord(&lx->tok, "AS")) {
            lexNext(lx);
            if (lx->tok.kind != TOK_WORD && lx->tok.kind != TOK_STRING) {
                *why = "expected a column alias";
                return false;
            }
        }
        if ((lx->tok.kind == TOK_WORD && !tokIsWord(&lx->tok, "FROM") && !tokIsWord(&lx->tok, "LIMIT")) ||
            lx->tok.kind == TOK_STRING) {
            bvFree(e->label);
            e->label = lx->tok.start[0] == '`' || lx->tok.kind == TOK_STRING ? unquote(lx->tok.start, lx->tok.len)
                                                                            : bvStrndup(lx->tok.start, lx->tok.len);
            lexNext(lx);
        }
        if (!tokIsPunct(&lx->tok, ','))
            break;
        lexNext(lx);
    }
    if (tokIsWord(&lx->tok, "FROM")) {
        *why = "SELECT ... FROM is not supported";
        return false;
    }
    if (tokIsWord(&lx->tok, "LIMIT")) {
        lexNext(lx);
        if (lx->tok.kind != TOK_INT) {
            *why = "expected a number after LIMIT";
            return false;
        }
        lexNext(lx);
    }
    return expectEnd(lx, why);
}

static bool
parseShow(Lex *lx, ReplQuery *q, const char **why) {
    lexNext(lx);
    if (tokIsWord(&lx->tok, "GLOBAL") || tokIsWord(&lx->tok, "SESSION"))
        lexNext(lx);
    if (!tokIsWord(&lx->tok, "VARIABLES")) {
        *why = "only SHOW VARIABLES is supported";
        return false;
    }
    lexNext(lx);
    if (tokIsWord(&lx->tok, "LIKE")) {
        lexNext(lx);
        if (lx->tok.kind != TOK_STRING) {
            *why = "expected a pattern after LIKE";
            return false;
        }
        q->like = unquote(lx->tok.start, lx->tok.len);
        lexNext(lx);
    }
    return expectEnd(lx, why);
}

void
replQueryParse(const char *text, size_t len, ReplQuery *q) {
    Lex lx = {text, text + len, NULL, {TOK_END, NULL, 0}};
    const char *why = NULL;
    bool ok;

    memset(q, 0, sizeof(*q));
    lexNext(&lx);
    if (tokIsWord(&lx.tok, "SET")) {
        q->kind = REPL_QUERY_SET;
        ok = parseSet(&lx, q, &why);
    } else if (tokIsWord(&lx.tok, "SELECT")) {
        q->kind = REPL_QUERY_SELECT;
        ok = parseSelect(&lx, q, &why);
    } else if (tokIsWord(&lx.tok, "SHOW")) {
        q->kind = REPL_QUERY_SHOW_VARIABLES;
        ok = parseShow(&lx, q, &why);
    } else {
        ok = false;
        why = lx.tok.kind == TOK_END ? "empty statement" : "only SET, SELECT and SHOW VARIABLES are supported";
    }
    if (!ok) {
        replQueryClear(q);
        q->why = why;
    }
}

void
replQueryClear(ReplQuery *q) {
    for (size_t i = 0; i < REPL_QUERY_MAX_ITEMS; i++) {
        exprClear(&q->target[i]);
        exprClear(&q->value[i]);
    }
    bvFree(q->like);
    memset(q, 0, sizeof(*q));
}

static char
lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool
replLikeMatch(const char *pattern, const char *name) {
    const char *starP = NULL, *starN = NULL;

    /* Greedy matching with one backtrack point per '%': linear enough for variable names. */
    while (*name) {
        if (*pattern == '%') {
            starP = ++pattern;
            starN = name;
            continue;
        }
        if (*pattern == '\\' && pattern[1] != '\0' && lower(pattern[1]) == lower(*name)) {
            pattern += 2;
            name++;
            continue;
        }
        if (*pattern != '\0' && *pattern != '\\' && (*pattern == '_' || lower(*pattern) == lower(*name))) {
            pattern++;
            name++;
            continue;
        }
        if (starP == NULL)
            return false;
        pattern = starP;
        name = ++starN;
    }
    while (*pattern == '%')
        pattern++;
    return *pattern == '\0';
}
