/* Binlog positions as users write them (binlog/pos.h). */
#include "binlog/pos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool
binlogFileNameValid(const char *file) {
    size_t len = strlen(file);

    if (len == 0 || len >= BINLOG_POS_FILE_MAX || file[0] == '.' || strstr(file, ".tmp.") != NULL)
        return false;
    for (const char *p = file; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

int
binlogPosParse(const char *text, bool posOptional, BinlogPos *out, Err *err) {
    const char *colon = strrchr(text, ':');
    char *end;
    size_t len = colon != NULL ? (size_t)(colon - text) : strlen(text);
    uint64_t pos = 4;

    if (colon == NULL && !posOptional)
        goto bad;
    if (len == 0 || len >= sizeof(out->file))
        goto bad;
    if (colon != NULL) {
        if (colon[1] < '0' || colon[1] > '9')
            goto bad;
        errno = 0;
        pos = strtoull(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0')
            goto bad;
    }
    memcpy(out->file, text, len);
    out->file[len] = '\0';
    if (!binlogFileNameValid(out->file)) {
        out->file[0] = '\0';
        goto bad;
    }
    out->pos = pos;
    return 0;
bad:
    return errSet(err, ERR_USAGE, "invalid position '%s': expected FILE%s, e.g. mariadb-bin.000003:256", text,
                  posOptional ? "[:POS]" : ":POS");
}

int
binlogPosOptParse(const char *text, void *field, Err *err) {
    BinlogPos pos;

    if (binlogPosParse(text, false, &pos, err) != 0)
        return -1;
    if (field != NULL)
        *(BinlogPos *)field = pos;
    return 0;
}

int
binlogPosOptParseStart(const char *text, void *field, Err *err) {
    BinlogPos pos;

    if (binlogPosParse(text, true, &pos, err) != 0)
        return -1;
    if (pos.pos < 4 || pos.pos > UINT32_MAX)
        return errSet(err, ERR_USAGE, "invalid position '%s': POS must be 4 to %u", text, UINT32_MAX);
    if (field != NULL)
        *(BinlogPos *)field = pos;
    return 0;
}
