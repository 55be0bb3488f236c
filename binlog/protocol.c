/* The replication protocol's commands as bytes (binlog/protocol.h). */
#include "binlog/protocol.h"

#include <string.h>

#include "common/bytes.h"
#include "common/mem.h"

static size_t
cutString(const char *s, size_t max) {
    size_t n = s ? strlen(s) : 0;

    return n > max ? max : n;
}

uint8_t *
binlogEncodeDump(uint32_t pos, uint16_t flags, uint32_t serverId, const char *file, size_t *len) {
    size_t nameLen = file ? strlen(file) : 0;
    uint8_t *p = bvMalloc(11 + nameLen);

    p[0] = BINLOG_COM_BINLOG_DUMP;
    wrU32(p + 1, pos);
    wrU16(p + 5, flags);
    wrU32(p + 7, serverId);
    if (nameLen > 0)
        memcpy(p + 11, file, nameLen);
    *len = 11 + nameLen;
    return p;
}

uint8_t *
binlogEncodeDumpGtid(uint16_t flags, uint32_t serverId, const char *file, uint64_t pos,
                     const uint8_t *gtidSet, size_t gtidLen, size_t *len) {
    size_t nameLen = file ? strlen(file) : 0;
    size_t total = 1 + 2 + 4 + 4 + nameLen + 8;
    uint8_t *p, *q;

    BV_ASSERT(nameLen <= UINT32_MAX && gtidLen <= UINT32_MAX);
    if (flags & BINLOG_DUMP_THROUGH_GTID)
        total += 4 + gtidLen;
    p = q = bvMalloc(total);
    *q++ = BINLOG_COM_BINLOG_DUMP_GTID;
    wrU16(q, flags);
    q += 2;
    wrU32(q, serverId);
    q += 4;
    wrU32(q, (uint32_t)nameLen);
    q += 4;
    if (nameLen > 0)
        memcpy(q, file, nameLen);
    q += nameLen;
    wrU64(q, pos);
    q += 8;
    if (flags & BINLOG_DUMP_THROUGH_GTID) {
        wrU32(q, (uint32_t)gtidLen);
        q += 4;
        if (gtidLen > 0)
            memcpy(q, gtidSet, gtidLen);
        q += gtidLen;
    }
    BV_ASSERT((size_t)(q - p) == total);
    *len = total;
    return p;
}

uint8_t *
binlogEncodeRegisterSlave(uint32_t serverId, const char *host, const char *user, const char *password,
                          uint16_t port, uint32_t masterId, size_t *len) {
    const char *strs[3] = {host, user, password};
    size_t lens[3], total = 1 + 4 + 3 + 2 + 4 + 4;
    uint8_t *p, *q;

    for (int i = 0; i < 3; i++) {
        lens[i] = cutString(strs[i], 255);
        total += lens[i];
    }
    p = q = bvMalloc(total);
    *q++ = BINLOG_COM_REGISTER_SLAVE;
    wrU32(q, serverId);
    q += 4;
    for (int i = 0; i < 3; i++) {
        *q++ = (uint8_t)lens[i];
        if (lens[i] > 0)
            memcpy(q, strs[i], lens[i]);
        q += lens[i];
    }
    wrU16(q, port);
    q += 2;
    wrU32(q, 0); /* replication rank: unused by the servers */
    q += 4;
    wrU32(q, masterId);
    q += 4;
    BV_ASSERT((size_t)(q - p) == total);
    *len = total;
    return p;
}

uint8_t *
binlogEncodeSemiSyncAck(const char *file, uint64_t pos, size_t *len) {
    size_t nameLen = strlen(file);
    uint8_t *p = bvMalloc(9 + nameLen);

    p[0] = BINLOG_SEMI_SYNC_MAGIC;
    wrU64(p + 1, pos);
    memcpy(p + 9, file, nameLen);
    *len = 9 + nameLen;
    return p;
}
