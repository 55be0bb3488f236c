/* The option table's parser, config file reader and --help printer (common/opt.h). */
#include "common/opt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/url.h"

#define CONFIG_MAX (1024 * 1024)

/* Where a value came from, in increasing precedence. */
enum { LEVEL_NONE = 0, LEVEL_DEFAULT, LEVEL_ENV, LEVEL_CONFIG, LEVEL_ARGV };

/* One parse: what setValue() needs besides the value. */
typedef struct OptCtx {
    const OptSet *set;
    void *target;
    char *const *envp;
    unsigned char *level; /* per def: the source of its value */
} OptCtx;

static const OptDef *
findDef(const OptSet *set, const char *name, size_t len) {
    for (size_t i = 0; i < set->count; i++)
        if (strlen(set->defs[i].name) == len && strncmp(set->defs[i].name, name, len) == 0)
            return &set->defs[i];
    return NULL;
}

/* The value of NAME in envp; NULL when unset, or empty unless `empty` accepts "". */
static const char *
envLookup(char *const *envp, const char *name, size_t len, bool empty) {
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
        if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
            return envp[i][len + 1] != '\0' || empty ? envp[i] + len + 1 : NULL;
    return NULL;
}

/* The first of the def's variables that is set; *which names it. */
static const char *
envFor(const OptDef *d, char *const *envp, char *which, size_t whichSize) {
    for (const char *p = d->env; p != NULL && *p;) {
        size_t len = strcspn(p, " ");
        const char *v = envLookup(envp, p, len, (d->flags & OPT_EMPTY) != 0);

        if (v != NULL) {
            snprintf(which, whichSize, "%.*s", (int)len, p);
            return v;
        }
        p += len;
        p += strspn(p, " ");
    }
    return NULL;
}

static int
parseScaled(const char *text, int64_t *out, const char *const *suffixes, const int64_t *scales, size_t n,
            int64_t bareScale) {
    char *end;
    long double v;

    errno = 0;
    if (text[0] == '\0' || text[0] == '-' || isspace((unsigned char)text[0]))
        return -1;
    v = strtold(text, &end);
    if (errno != 0 || end == text)
        return -1;
    if (*end == '\0') {
        v *= bareScale;
    } else {
        size_t i;

        for (i = 0; i < n; i++)
            if (strcasecmp(end, suffixes[i]) == 0)
                break;
        if (i == n)
            return -1;
        v *= scales[i];
    }
    /* strtold() also reads "nan": !(v >= 0) refuses it, whose conversion is undefined. */
    if (!(v >= 0) || v > (long double)INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int
optParseSize(const char *text, int64_t *out) {
    static const char *const suf[] = {"b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib", "t", "tb", "tib"};
    static const int64_t sc[] = {1, 1LL << 10, 1LL << 10, 1LL << 10, 1LL << 20, 1LL << 20, 1LL << 20,
                                 1LL << 30, 1LL << 30, 1LL << 30, 1LL << 40, 1LL << 40, 1LL << 40};

    return parseScaled(text, out, suf, sc, sizeof(sc) / sizeof(sc[0]), 1);
}

int
optParseDuration(const char *text, int64_t *outMs) {
    static const char *const suf[] = {"ms", "s", "sec", "m", "min", "h"};
    static const int64_t sc[] = {1, 1000, 1000, 60000, 60000, 3600000};

    return parseScaled(text, outMs, suf, sc, sizeof(sc) / sizeof(sc[0]), 1000);
}

/* "a, b or c" of a NULL-terminated list. */
static void
choicesText(const char *const *choices, char *out, size_t size) {
    size_t n = 0, count = 0;

    out[0] = '\0';
    while (choices != NULL && choices[count] != NULL)
        count++;
    for (size_t i = 0; i < count && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i == 0 ? "" : i + 1 == count ? " or " : ", ",
                              choices[i][0] ? choices[i] : "a path");
}

static const char *
typeHint(const OptDef *d) {
    switch (d->type) {
    case OPT_INT: return "an integer";
    case OPT_SIZE: return "a size in bytes (suffix K, M, G or T)";
    case OPT_DURATION: return "a duration (suffix ms, s, m or h; a bare number is seconds)";
    case OPT_BOOL: return "true or false";
    case OPT_ENUM: return "one of the values listed by --help";
    case OPT_TIME: return "a time: 'YYYY-MM-DD HH:MM:SS[.ffffff]', 2026-11-21T04:30:00Z (UTC) or 2026-11-21";
    case OPT_TIMEZONE: return "a time zone: UTC, +02:00 or Europe/Paris";
    case OPT_HOSTPORT: return "ADDR:PORT";
    case OPT_URL: return "a URL";
    case OPT_POSITION: return "FILE:POS";
    default: return "a string";
    }
}

/* The placeholder of the option's value in --help. */
static const char *
typeMeta(const OptDef *d) {
    switch (d->type) {
    case OPT_BOOL: return "";
    case OPT_INT: return " N";
    case OPT_SIZE: return " SIZE";
    case OPT_DURATION: return " DURATION";
    case OPT_TIME: return " TIME";
    case OPT_TIMEZONE: return " TZ";
    case OPT_HOSTPORT: return " HOST:PORT";
    case OPT_URL: return " URL";
    case OPT_POSITION: return " FILE:POS";
    case OPT_ENUM: return " VALUE";
    default: return " TEXT";
    }
}

static void
listClear(OptList *l) {
    for (size_t i = 0; i < l->count; i++)
        bvFree(l->items[i]);
    bvFree(l->items);
    l->items = NULL;
    l->count = 0;
}

static int
checkUrl(const OptDef *d, const char *text, const char *from, Err *err) {
    const char *sep = strstr(text, "://");
    size_t schemeLen = sep != NULL ? (size_t)(sep - text) : 0;
    char accepted[256];

    for (size_t i = 0; d->choices != NULL && d->choices[i] != NULL; i++) {
        const char *scheme = d->choices[i];

        if (strlen(scheme) != schemeLen || strncmp(text, scheme, schemeLen) != 0 || (sep == NULL && text[0] == '\0'))
            continue;
        if (strcmp(scheme, "mysql") == 0 || strcmp(scheme, "mariadb") == 0) {
            MysqlUrl *url = urlMysqlNew(text, err);

            if (url == NULL)
                return errPrefix(err, "--%s (%s)", d->name, from);
            urlMysqlFree(url);
        }
        return 0;
    }
    choicesText(d->choices, accepted, sizeof(accepted));
    return errSet(err, ERR_USAGE, "invalid value '%s' for '%s' (%s): expected a URL of scheme %s", text, d->name, from,
                  accepted);
}

/* Store text as the value of d. `from` names the source for messages. */
static int
setValue(const OptCtx *ctx, const OptDef *d, const char *text, const char *from, Err *err) {
    char *field = (char *)ctx->target + d->offset;
    int64_t v = 0;

    if (d->parse != NULL && d->type != OPT_POSITION && d->parse(text, NULL, err) != 0)
        return errPrefix(err, "--%s (%s)", d->name, from);
    switch (d->type) {
    case OPT_STRING:
        if (d->flags & OPT_REPEAT) {
            OptList *l = (OptList *)field;

            l->items = bvRealloc(l->items, (l->count + 1) * sizeof(char *));
            l->items[l->count++] = bvStrdup(text);
            return 0;
        }
        bvFree(*(char **)field);
        *(char **)field = bvStrdup(text);
        return 0;
    case OPT_URL:
        if (checkUrl(d, text, from, err) != 0)
            return -1;
        bvFree(*(char **)field);
        *(char **)field = bvStrdup(text);
        return 0;
    case OPT_ENUM: {
        char accepted[256];

        for (size_t i = 0; d->choices != NULL && d->choices[i] != NULL; i++) {
            if (strcmp(text, d->choices[i]) == 0) {
                *(const char **)field = d->choices[i];
                return 0;
            }
        }
        choicesText(d->choices, accepted, sizeof(accepted));
        return errSet(err, ERR_USAGE, "invalid value '%s' for '%s' (%s): expected %s", text, d->name, from, accepted);
    }
    case OPT_TIME: {
        OptTime *t = (OptTime *)field;
        uint64_t us;

        if (timeParse(text, NULL, &us, err) != 0)
            return errPrefix(err, "--%s (%s)", d->name, from);
        bvFree(t->text);
        t->text = bvStrdup(text);
        t->us = us;
        return 0;
    }
    case OPT_TIMEZONE: {
        char *const *envp = ctx->envp;

        if (timeZoneParse(text, envLookup(envp, "TZDIR", 5, false), (TimeZone *)field, err) != 0)
            return errPrefix(err, "--%s (%s)", d->name, from);
        return 0;
    }
    case OPT_HOSTPORT: {
        OptHostPort *hp = (OptHostPort *)field;
        char *host, option[96];
        uint16_t port;

        snprintf(option, sizeof(option), "--%s", d->name);
        if (urlHostPortParse(text, option, &host, &port, err) != 0)
            return -1;
        bvFree(hp->host);
        hp->host = host;
        hp->port = port;
        return 0;
    }
    case OPT_POSITION:
        if (d->parse(text, field, err) != 0)
            return errPrefix(err, "--%s (%s)", d->name, from);
        return 0;
    case OPT_BOOL: {
        bool b;

        if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on") || !strcmp(text, "1"))
            b = true;
        else if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off") || !strcmp(text, "0"))
            b = false;
        else
            return errSet(err, ERR_USAGE, "invalid value '%s' for '%s' (%s): expected true or false", text, d->name, from);
        *(bool *)field = b;
        return 0;
    }
    case OPT_INT: {
        char *end;

        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0')
            return errSet(err, ERR_USAGE, "invalid value '%s' for '%s' (%s): expected %s", text, d->name, from,
                          typeHint(d));
        break;
    }
    case OPT_SIZE:
        if (optParseSize(text, &v) != 0)
            return errSet(err, ERR_USAGE, "invalid value '%s' for '%s' (%s): expected %s", text, d->name, from,
                          typeHint(d));
        break;
    case OPT_DURATION:
        if (optParseDuration(text, &v) != 0)
            return errSet(err, ERR_USAGE, "invalid value '%s' for '%s' (%s): expected %s", text, d->name, from,
                          typeHint(d));
        break;
    }
    if ((d->min != 0 || d->max != 0) && (v < d->min || v > d->max))
        return errSet(err, ERR_USAGE, "value '%s' for '%s' (%s) is out of range: %" PRId64 " to %" PRId64 "%s", text,
                      d->name, from, d->min, d->max,
                      d->type == OPT_SIZE ? " bytes" : d->type == OPT_DURATION ? " ms" : "");
    *(int64_t *)field = v;
    return 0;
}

/* Set d from a source of the given level: a repeatable option given by a higher source than the
 * one its values came from drops those first. */
static int
setFrom(const OptCtx *ctx, const OptDef *d, int level, const char *text, const char *from, Err *err) {
    size_t i = (size_t)(d - ctx->set->defs);

    if ((d->flags & OPT_REPEAT) && ctx->level[i] < level)
        listClear((OptList *)((char *)ctx->target + d->offset));
    if (setValue(ctx, d, text, from, err) != 0)
        return -1;
    ctx->level[i] = (unsigned char)level;
    return 0;
}

static char *
trim(char *s) {
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int
configText(const OptCtx *ctx, const char *text, size_t len, const char *origin, bool *secretSeen, Err *err) {
    const OptSet *set = ctx->set;
    char *data, *line;
    bool inSection = true, shared = false;
    int lineNo = 0, rc = -1;

    if (secretSeen != NULL)
        *secretSeen = false;
    if (memchr(text, '\0', len) != NULL)
        return errSet(err, ERR_CONFIG, "config file '%s' holds a NUL byte: not a text file", origin);
    data = bvStrndup(text, len);
    for (char *p = data, *next; p != NULL && *p; p = next) {
        char *eq, *key, *value;
        const OptDef *d;

        next = strchr(p, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineNo++;
        line = trim(p);
        if (*line == '\0' || *line == '#' || *line == ';')
            continue;
        if (*line == '[') {
            char *close = strchr(line, ']');

            if (close == NULL || close[1] != '\0') {
                errSet(err, ERR_CONFIG, "config file '%s' line %d: malformed section header", origin, lineNo);
                goto out;
            }
            *close = '\0';
            shared = strcmp(trim(line + 1), "binvault") == 0;
            inSection = shared || strcmp(trim(line + 1), set->command) == 0;
            continue;
        }
        if ((eq = strchr(line, '=')) == NULL) {
            errSet(err, ERR_CONFIG, "config file '%s' line %d: expected 'key = value'", origin, lineNo);
            goto out;
        }
        *eq = '\0';
        key = trim(line);
        value = trim(eq + 1);
        if (!inSection)
            continue;
        if ((d = findDef(set, key, strlen(key))) == NULL || strcmp(key, "config") == 0) {
            /* [binvault] is shared by every command: what is another command's is not an error. */
            if (shared && d == NULL)
                continue;
            errSet(err, ERR_CONFIG, "config file '%s' line %d: unknown option '%s' for 'binvault %s'", origin, lineNo,
                   key, set->command);
            goto out;
        }
        if ((d->flags & OPT_SECRET) && secretSeen != NULL)
            *secretSeen = true;
        if (setFrom(ctx, d, LEVEL_CONFIG, value, "config file", err) != 0) {
            errPrefix(err, "config file '%s' line %d", origin, lineNo);
            goto out;
        }
    }
    rc = 0;
out:
    bvFree(data);
    return rc;
}

int
optParseConfigText(const OptSet *set, void *target, const char *text, size_t len, const char *origin, bool *seen,
                   bool *secretSeen, Err *err) {
    unsigned char *level = bvCalloc(set->count + 1, 1);
    OptCtx ctx = {set, target, NULL, level};
    int rc = configText(&ctx, text, len, origin, secretSeen, err);

    for (size_t i = 0; seen != NULL && i < set->count; i++)
        if (level[i] == LEVEL_CONFIG)
            seen[i] = true;
    bvFree(level);
    return rc;
}

static int
loadConfig(const OptCtx *ctx, const char *path, Err *err) {
    uint8_t *data;
    size_t len;
    struct stat st;
    bool secretSeen = false;
    int rc;

    if (stat(path, &st) != 0)
        return errSetSys(err, ERR_CONFIG, errno, "unable to read config file '%s'", path);
    /* Whatever keeps the file from being read (a directory, too large, unreadable) is the
     * configuration's fault: exit 78, never a code a supervisor takes for a passing failure. */
    if (fsReadFile(path, CONFIG_MAX, &data, &len, err) != 0) {
        err->code = ERR_CONFIG;
        return errPrefix(err, "unable to read config file '%s'", path);
    }
    rc = configText(ctx, (const char *)data, len, path, &secretSeen, err);
    bvFree(data);
    if (rc != 0)
        return -1;
    if (secretSeen && (st.st_mode & 077) != 0)
        return errSet(err, ERR_CONFIG,
                      "config file '%s' holds a secret but can be read by others (mode %03o): run 'chmod 600 %s'", path,
                      (unsigned)(st.st_mode & 0777), path);
    return 0;
}

/* Times are read in the set's time zone option, known only once every source is applied. */
static int
zoneTimes(const OptCtx *ctx, Err *err) {
    const TimeZone *tz = NULL;

    for (size_t i = 0; i < ctx->set->count; i++)
        if (ctx->set->defs[i].type == OPT_TIMEZONE)
            tz = (const TimeZone *)((const char *)ctx->target + ctx->set->defs[i].offset);
    for (size_t i = 0; tz != NULL && i < ctx->set->count; i++) {
        const OptDef *d = &ctx->set->defs[i];
        OptTime *t = (OptTime *)((char *)ctx->target + d->offset);

        if (d->type == OPT_TIME && t->text != NULL && timeParse(t->text, tz, &t->us, err) != 0)
            return errPrefix(err, "--%s", d->name);
    }
    return 0;
}

/* Defaults, then the environment. */
static int
applyDefaults(const OptCtx *ctx, Err *err) {
    for (size_t i = 0; i < ctx->set->count; i++) {
        const OptDef *d = &ctx->set->defs[i];
        char which[128];
        const char *env = envFor(d, ctx->envp, which, sizeof(which));

        if (d->def != NULL && setFrom(ctx, d, LEVEL_DEFAULT, d->def, "default", err) != 0)
            return -1;
        if (env != NULL && setFrom(ctx, d, LEVEL_ENV, env, which, err) != 0)
            return -1;
    }
    return 0;
}

int
optParse(const OptSet *set, void *target, int argc, char **argv, char *const *envp, char ***positional,
         int *positionalCount, Err *err) {
    unsigned char *level = bvCalloc(set->count + 1, 1);
    OptCtx ctx = {set, target, envp, level};
    char **args = bvCalloc((size_t)argc + 1, sizeof(char *));
    const char *config = NULL;
    int rc = -1, npos = 0;

    if (positional != NULL)
        *positional = NULL;
    if (applyDefaults(&ctx, err) != 0)
        goto done;
    /* Find --config first: the command line wins over the file. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            optUsage(set, stdout);
            rc = 1;
            goto done;
        }
    }
    if (config != NULL && loadConfig(&ctx, config, err) != 0)
        goto done;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *value = NULL, *eq;
        const OptDef *d;
        size_t nameLen;

        if (strcmp(arg, "--") == 0) {
            while (++i < argc)
                args[npos++] = argv[i];
            break;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            args[npos++] = argv[i];
            continue;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        nameLen = eq ? (size_t)(eq - name) : strlen(name);
        if (nameLen == 6 && strncmp(name, "config", 6) == 0) {
            if (eq == NULL)
                i++;
            continue;
        }
        if ((d = findDef(set, name, nameLen)) == NULL) {
            errSet(err, ERR_USAGE, "unknown option '--%.*s' for 'binvault %s'; 'binvault %s --help' lists the options",
                   (int)nameLen, name, set->command, set->command);
            goto done;
        }
        if (d->flags & OPT_SECRET) {
            errSet(err, ERR_USAGE, "'--%s' is a secret and is not accepted on the command line: set %s%s or put "
                   "'%s = ...' in a config file readable only by you (--config)", d->name, d->env ? d->env : "",
                   d->env ? "" : "it", d->name);
            goto done;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (d->type == OPT_BOOL) {
            value = "true";
        } else {
            if (i + 1 >= argc) {
                errSet(err, ERR_USAGE, "option '--%s' needs a value: %s", d->name, typeHint(d));
                goto done;
            }
            value = argv[++i];
        }
        if (setFrom(&ctx, d, LEVEL_ARGV, value, "command line", err) != 0)
            goto done;
    }
    for (size_t i = 0; i < set->count; i++) {
        if ((set->defs[i].flags & OPT_REQUIRED) && level[i] <= LEVEL_DEFAULT) {
            errSet(err, ERR_USAGE, "missing required option '--%s' (%s); 'binvault %s --help' describes it",
                   set->defs[i].name, set->defs[i].help, set->command);
            goto done;
        }
    }
    if (set->args == NULL && npos > 0) {
        errSet(err, ERR_USAGE, "unexpected argument '%s'; 'binvault %s --help' lists the options", args[0], set->command);
        goto done;
    }
    if (set->args != NULL && npos < set->argsMin) {
        errSet(err, ERR_USAGE, "missing %s; 'binvault %s --help' describes the command", set->args, set->command);
        goto done;
    }
    if (set->args != NULL && set->argsMax >= 0 && npos > set->argsMax) {
        errSet(err, ERR_USAGE, "unexpected argument '%s'; 'binvault %s --help' describes the command",
               args[set->argsMax], set->command);
        goto done;
    }
    if (zoneTimes(&ctx, err) != 0)
        goto done;
    rc = 0;
done:
    if (positional != NULL && rc == 0) {
        *positional = args;
        args = NULL;
    }
    if (positionalCount != NULL)
        *positionalCount = rc == 0 ? npos : 0;
    bvFree(args);
    bvFree(level);
    return rc;
}

void
optDescribe(const OptSet *set, const void *target, Buf *out) {
    for (size_t i = 0; i < set->count; i++) {
        const OptDef *d = &set->defs[i];
        const char *field = (const char *)target + d->offset;

        if (out->len > 0)
            bufAppend(out, " ", 1);
        jsonBufPrintf(out, "%s=", d->name);
        if (d->flags & OPT_SECRET) {
            bufAppend(out, *(char *const *)field ? "(set)" : "(unset)", *(char *const *)field ? 5 : 7);
            continue;
        }
        switch (d->type) {
        case OPT_STRING:
            if (d->flags & OPT_REPEAT) {
                const OptList *l = (const OptList *)field;

                for (size_t k = 0; k < l->count; k++)
                    jsonBufPrintf(out, "%s%s", k ? "," : "", l->items[k]);
                break;
            }
            /* fall through */
        case OPT_URL:
        case OPT_ENUM: {
            const char *s = *(char *const *)field;

            bufAppend(out, s ? s : "", s ? strlen(s) : 0);
            break;
        }
        case OPT_TIME: {
            const OptTime *t = (const OptTime *)field;

            jsonBufPrintf(out, "%s", t->text ? t->text : "");
            break;
        }
        case OPT_TIMEZONE: jsonBufPrintf(out, "%s", ((const TimeZone *)field)->name); break;
        case OPT_HOSTPORT: {
            const OptHostPort *hp = (const OptHostPort *)field;

            if (hp->host != NULL)
                jsonBufPrintf(out, "%s%s%s:%u", strchr(hp->host, ':') ? "[" : "", hp->host,
                              strchr(hp->host, ':') ? "]" : "", hp->port);
            break;
        }
        case OPT_POSITION: jsonBufPrintf(out, "(given)"); break;
        case OPT_BOOL: jsonBufPrintf(out, "%s", *(const bool *)field ? "true" : "false"); break;
        case OPT_DURATION: jsonBufPrintf(out, "%" PRId64 "ms", *(const int64_t *)field); break;
        default: jsonBufPrintf(out, "%" PRId64, *(const int64_t *)field); break;
        }
    }
}

/* Print text indented by `indent`, wrapped before `width` columns; `col` is where the cursor is. */
static void
wrap(FILE *out, const char *text, size_t col, size_t indent, size_t width) {
    const char *p = text;

    while (*p) {
        size_t word = strcspn(p, " \n");

        if (col > indent && col + 1 + word > width) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)word, p);
        col += word;
        p += word;
        if (*p == '\n') {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        }
        p += strspn(p, " \n");
    }
}

void
optUsage(const OptSet *set, FILE *out) {
    fprintf(out, "usage: %s\n\n", set->usage);
    if (set->about)
        fprintf(out, "%s\n\n", set->about);
    fprintf(out, "options (also as 'name = value' lines in an INI file given with --config FILE):\n");
    for (size_t i = 0; i < set->count; i++) {
        const OptDef *d = &set->defs[i];
        char left[96], extra[512];
        size_t n = 0;

        snprintf(left, sizeof(left), "  --%s%s", d->name, typeMeta(d));
        fprintf(out, "%-30s", left);
        extra[0] = '\0';
        if (d->type == OPT_ENUM) {
            char accepted[256];

            choicesText(d->choices, accepted, sizeof(accepted));
            n += (size_t)snprintf(extra + n, sizeof(extra) - n, " (%s)", accepted);
        }
        if (d->def && !(d->flags & OPT_SECRET) && n < sizeof(extra))
            n += (size_t)snprintf(extra + n, sizeof(extra) - n, " (default %s)", d->def);
        if ((d->flags & OPT_REPEAT) && n < sizeof(extra))
            n += (size_t)snprintf(extra + n, sizeof(extra) - n, " (repeatable)");
        if ((d->flags & OPT_REQUIRED) && n < sizeof(extra))
            n += (size_t)snprintf(extra + n, sizeof(extra) - n, " (required)");
        if (d->env && n < sizeof(extra))
            n += (size_t)snprintf(extra + n, sizeof(extra) - n, " [env %s]", d->env);
        if ((d->flags & OPT_SECRET) && n < sizeof(extra))
            snprintf(extra + n, sizeof(extra) - n, " [secret: environment or 0600 config file only]");
        {
            Buf *b = bufNew(256);

            jsonBufPrintf(b, "%s%s", d->help, extra);
            bufAppend(b, "", 1);
            if (strlen(left) >= 30) {
                fprintf(out, "\n%30s", "");
                wrap(out, (const char *)b->data, 30, 30, 110);
            } else {
                wrap(out, (const char *)b->data, 30, 30, 110);
            }
            bufFree(b);
        }
        fputc('\n', out);
    }
    fprintf(out, "%-30s%s\n", "  --config FILE", "read options from an INI file (section [binvault] or the command's name)");
    fprintf(out, "%-30s%s\n", "  --help", "print this help");
}

void
optFree(const OptSet *set, void *target) {
    for (size_t i = 0; i < set->count; i++) {
        const OptDef *d = &set->defs[i];
        char *field = (char *)target + d->offset;

        switch (d->type) {
        case OPT_STRING:
            if (d->flags & OPT_REPEAT) {
                listClear((OptList *)field);
                break;
            }
            /* fall through */
        case OPT_URL:
            bvFree(*(char **)field);
            *(char **)field = NULL;
            break;
        case OPT_TIME:
            bvFree(((OptTime *)field)->text);
            ((OptTime *)field)->text = NULL;
            break;
        case OPT_HOSTPORT:
            bvFree(((OptHostPort *)field)->host);
            ((OptHostPort *)field)->host = NULL;
            break;
        default: break;
        }
    }
}
