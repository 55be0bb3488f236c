/* Small helpers to write JSON text: string escaping into a buffer or a stream. */
#ifndef BV_COMMON_JSON_H
#define BV_COMMON_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Escape a NUL-terminated string for use inside JSON quotes; truncates to fit `size`. */
void jsonEscape(char *dst, size_t size, const char *src);

/* Write `"escaped"` (with the quotes) of `len` bytes to `out`; bytes that are not valid UTF-8
 * are written as \u00XX of the byte so the output is always valid JSON. */
void jsonPutString(FILE *out, const char *s, size_t len);

#endif
