/*
 * The replication protocol's commands, as bytes: pure encoders of what a replica sends
 * (COM_BINLOG_DUMP, COM_BINLOG_DUMP_GTID, COM_REGISTER_SLAVE, the semi-sync ACK), used by the
 * replica stream of mysql/client.h and unit-tested against hand-computed bytes.
 */
#ifndef BV_BINLOG_PROTOCOL_H
#define BV_BINLOG_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* Each encoder returns the payload of one command packet, command byte first (the 4-byte packet header
 * is added by the connection), allocated (bvFree() it), its size in *len. */

#define BINLOG_COM_BINLOG_DUMP 0x12
#define BINLOG_COM_REGISTER_SLAVE 0x15
#define BINLOG_COM_BINLOG_DUMP_GTID 0x1e
#define BINLOG_SEMI_SYNC_MAGIC 0xef

/* COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID flags. */
#define BINLOG_DUMP_NON_BLOCK 0x01        /* send EOF at the end instead of waiting */
#define BINLOG_DUMP_ANNOTATE_ROWS 0x02    /* MariaDB: send ANNOTATE_ROWS events */
#define BINLOG_DUMP_THROUGH_GTID 0x04     /* MySQL COM_BINLOG_DUMP_GTID: a GTID set follows */

/* COM_BINLOG_DUMP: 0x12, pos u32, flags u16, server_id u32, file name (rest of the packet). */
uint8_t *binlogEncodeDump(uint32_t pos, uint16_t flags, uint32_t serverId, const char *file, size_t *len);

/* COM_BINLOG_DUMP_GTID (MySQL): 0x1e, flags u16, server_id u32, name_len u32, name, pos u64,
 * then when flags has BINLOG_DUMP_THROUGH_GTID: data_size u32 and the encoded GTID set
 * (gtidSetEncode()). */
uint8_t *binlogEncodeDumpGtid(uint16_t flags, uint32_t serverId, const char *file, uint64_t pos,
                              const uint8_t *gtidSet, size_t gtidLen, size_t *len);

/* COM_REGISTER_SLAVE: 0x15, server_id u32, host, user, password (each u8 length + bytes, longer
 * strings cut at 255 bytes; NULL = empty), port u16, replication rank u32 (0), master_id u32. */
uint8_t *binlogEncodeRegisterSlave(uint32_t serverId, const char *host, const char *user,
                                   const char *password, uint16_t port, uint32_t masterId, size_t *len);

/* The semi-sync ACK a replica sends after it holds an event: 0xef, binlog position u64 (end of
 * the acknowledged event), file name (no terminating NUL). */
uint8_t *binlogEncodeSemiSyncAck(const char *file, uint64_t pos, size_t *len);

#endif
