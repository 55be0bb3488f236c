/* Little-endian (and a few big-endian) readers and writers on byte buffers. */
#ifndef BV_COMMON_BYTES_H
#define BV_COMMON_BYTES_H

#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "binvault reads binlog integers with memcpy and needs a little-endian host"
#endif

static inline uint16_t rdU16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rdU24(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}
static inline uint32_t rdU32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t rdU48(const uint8_t *p) { return (uint64_t)rdU32(p) | ((uint64_t)rdU16(p + 4) << 32); }
static inline uint64_t rdU56(const uint8_t *p) { return (uint64_t)rdU32(p) | ((uint64_t)rdU24(p + 4) << 32); }
static inline uint64_t rdU64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void wrU16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void wrU32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wrU64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t rdU32be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rdU64be(const uint8_t *p) { return ((uint64_t)rdU32be(p) << 32) | rdU32be(p + 4); }
static inline void wrU32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void wrU64be(uint8_t *p, uint64_t v) { wrU32be(p, (uint32_t)(v >> 32)); wrU32be(p + 4, (uint32_t)v); }

#endif
