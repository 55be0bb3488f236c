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

#define CONFIG_MAX (1024 * 1024)

static const OptDef *
findDef(const OptSet *set, const char *name, size_t len) {
    for (size_t i = 0; i < set->count; i++)
        if (strlen(set->defs[i].name) == len && strncmp(set->defs[i].name, name, len) == 0)
            return &set->defs[i];
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

static const char *
typeHint(const OptDef *d) {
    switch (d->type) {
    case OPT_INT: return "an integer";
    case OPT_SIZE: return "a size in bytes (suffix K, M, G or T)";
    case OPT_DURATION: return "a duration (suffix ms, s, m or h; a bare number is seconds)";
    case OPT_BOOL: return "true or false";
    default: return "a string";
    }
}

/* Store text as the value of d in target. `from` names the source for messages. */
static int
setValue(const OptDef *d, void *target, const char *text, const char *from, Err *err) {
    char *field = (char *)target + d->offset;
    int64_t v = 0;

    switch (d->type) {
    case OPT_STRING:
        bvFree(*(char **)field);
        *(char **)field = bvStrdup(text);
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

int
optParseConfigText(const OptSet *set, void *target, const char *text, size_t len, const char *origin, bool *seen,
                   bool *secretSeen, Err *err) {
    char *data, *line;
    bool inSection = true;
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
            inSection = strcmp(trim(line + 1), set->command) == 0 || strcmp(trim(line + 1), "binvault") == 0;
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
            errSet(err, ERR_CONFIG, "config file '%s' line %d: unknown option '%s' for 'binvault %s'", origin, lineNo,
                   key, set->command);
            goto out;
        }
        if ((d->flags & OPT_SECRET) && secretSeen != NULL)
            *secretSeen = true;
        if (setValue(d, target, value, "config file", err) != 0) {
            errPrefix(err, "config file '%s' line %d", origin, lineNo);
            goto out;
        }
        if (seen != NULL)
            seen[d - set->defs] = true;
    }
    rc = 0;
out:
    bvFree(data);
    return rc;
}

static int
loadConfig(const OptSet *set, void *target, const char *path, bool *seen, Err *err) {
    uint8_t *data;
    size_t len;
    struct stat st;
    bool secretSeen = false;
    int rc;

    if (stat(path, &st) != 0)
        return errSetSys(err, ERR_CONFIG, errno, "unable to read config file '%s'", path);
    if (fsReadFile(path, CONFIG_MAX, &data, &len, err) != 0)
        return errPrefix(err, "unable to read config file '%s'", path);
    rc = optParseConfigText(set, target, (const char *)data, len, path, seen, &secretSeen, err);
    bvFree(data);
    if (rc != 0)
        return -1;
    if (secretSeen && (st.st_mode & 077) != 0)
        return errSet(err, ERR_CONFIG,
                      "config file '%s' holds a secret but can be read by others (mode %03o): run 'chmod 600 %s'", path,
                      (unsigned)(st.st_mode & 0777), path);
    return 0;
}

int
optParse(const OptSet *set, void *target, int argc, char **argv, char ***positional, int *positionalCount, Err *err) {
    bool *seen = bvCalloc(set->count + 1, sizeof(bool));
    const char *config = NULL;
    int rc = -1, npos = 0;

    if (positional != NULL)
        *positional = bvCalloc((size_t)argc + 1, sizeof(char *));
    /* Defaults, then the environment. */
    for (size_t i = 0; i < set->count; i++) {
        const OptDef *d = &set->defs[i];
        const char *env = d->env ? getenv(d->env) : NULL;

        if (d->def != NULL && setValue(d, target, d->def, "default", err) != 0)
            goto done;
        if (env != NULL && *env != '\0') {
            if (setValue(d, target, env, d->env, err) != 0)
                goto done;
            seen[i] = true;
        }
    }
    /* Find --config first: the command line wins over the file. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            optUsage(set, stdout);
            rc = 1;
            goto done;
        }
    }
    if (config != NULL && loadConfig(set, target, config, seen, err) != 0)
        goto done;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *value = NULL, *eq;
        const OptDef *d;
        size_t nameLen;

        if (strcmp(arg, "--") == 0) {
            for (i++; i < argc; i++) {
                if (positional == NULL) {
                    errSet(err, ERR_USAGE, "unexpected argument '%s'", argv[i]);
                    goto done;
                }
                (*positional)[npos++] = argv[i];
            }
            break;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (positional == NULL) {
                errSet(err, ERR_USAGE, "unexpected argument '%s'; 'binvault %s --help' lists the options", arg,
                       set->command);
                goto done;
            }
            (*positional)[npos++] = argv[i];
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
        if (setValue(d, target, value, "command line", err) != 0)
            goto done;
        seen[d - set->defs] = true;
    }
    for (size_t i = 0; i < set->count; i++) {
        if ((set->defs[i].flags & OPT_REQUIRED) && !seen[i]) {
            errSet(err, ERR_USAGE, "missing required option '--%s' (%s); 'binvault %s --help' describes it",
                   set->defs[i].name, set->defs[i].help, set->command);
            goto done;
        }
    }
    rc = 0;
done:
    if (positionalCount != NULL)
        *positionalCount = npos;
    bvFree(seen);
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
        case OPT_STRING: {
            const char *s = *(char *const *)field;

            bufAppend(out, s ? s : "", s ? strlen(s) : 0);
            break;
        }
        case OPT_BOOL: jsonBufPrintf(out, "%s", *(const bool *)field ? "true" : "false"); break;
        case OPT_DURATION: jsonBufPrintf(out, "%" PRId64 "ms", *(const int64_t *)field); break;
        default: jsonBufPrintf(out, "%" PRId64, *(const int64_t *)field); break;
        }
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
        char left[64];

        snprintf(left, sizeof(left), "--%s%s", d->name,
                 d->type == OPT_BOOL ? "" : d->type == OPT_STRING ? " TEXT" : d->type == OPT_DURATION ? " TIME" : " N");
        fprintf(out, "  %-26s %s", left, d->help);
        if (d->def && !(d->flags & OPT_SECRET))
            fprintf(out, " (default %s)", d->def);
        if (d->env)
            fprintf(out, " [env %s]", d->env);
        if (d->flags & OPT_SECRET)
            fprintf(out, " [secret: environment or 0600 config file only]");
        fputc('\n', out);
    }
    fprintf(out, "  %-26s %s\n", "--config FILE", "read options from an INI file (section [binvault] or the command's name)");
}

void
optFree(const OptSet *set, void *target) {
    for (size_t i = 0; i < set->count; i++) {
        if (set->defs[i].type == OPT_STRING) {
            char **field = (char **)((char *)target + set->defs[i].offset);

            bvFree(*field);
            *field = NULL;
        }
    }
}
