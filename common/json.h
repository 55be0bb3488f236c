/*
 * JSON: escaping for writers, and a small strict parser (RFC 8259) for the archive's metadata
 * objects, which come from outside and may be hostile: bounded depth, exact integers, clear
 * errors with the byte offset, never an over-read.
 */
#ifndef BV_COMMON_JSON_H
#define BV_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"

/* Escape a NUL-terminated string for use inside JSON quotes; truncates to fit `size`. */
void jsonEscape(char *dst, size_t size, const char *src);

/* Append `"escaped"` (with the quotes) of `len` bytes to buf / write it to out. Bytes that are not
 * valid UTF-8 are written as \u00XX of the byte, so the output is always valid JSON. */
void jsonBufString(Buf *buf, const char *s, size_t len);
void jsonPutString(FILE *out, const char *s, size_t len);

/* printf-append to a Buf (for building JSON with numbers). */
void jsonBufPrintf(Buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum JsonType { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue JsonValue;

#define JSON_MAX_DEPTH 32

/* Parse one JSON document (surrounding whitespace allowed, nothing else). */
JsonValue *jsonParse(const char *text, size_t len, Err *err);

JsonType jsonType(const JsonValue *v);
/* Member of an object (NULL when v is not an object or has no such key). */
const JsonValue *jsonGet(const JsonValue *v, const char *key);
size_t jsonLen(const JsonValue *v); /* elements of an array, members of an object */
const JsonValue *jsonAt(const JsonValue *v, size_t i); /* i-th element / member value */
const char *jsonKeyAt(const JsonValue *v, size_t i);   /* i-th member key of an object */
/* String value (NUL-terminated; *len gets the length, which may include NULs) or NULL. */
const char *jsonStr(const JsonValue *v, size_t *len);
/* An integer number that fits: true and *out. */
bool jsonU64(const JsonValue *v, uint64_t *out);
bool jsonI64(const JsonValue *v, int64_t *out);
bool jsonBool(const JsonValue *v, bool *out);

/* Required members, with errors that name the key ("missing or invalid field 'x'"). */
int jsonReqStr(const JsonValue *obj, const char *key, const char **out, Err *err);
int jsonReqU64(const JsonValue *obj, const char *key, uint64_t *out, Err *err);
/* A required string member copied into dst of `size` bytes: refused when it does not fit (with
 * its NUL) or holds a NUL. */
int jsonReqStrCopy(const JsonValue *obj, const char *key, char *dst, size_t size, Err *err);

void jsonFree(JsonValue *v);

#endif
