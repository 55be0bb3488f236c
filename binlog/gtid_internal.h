/*
 * What binlog/gtid.c (MySQL GTID sets) and binlog/gtid_maria.c (MariaDB GTIDs and positions)
 * share: the character classes and error-message helpers of their text parsers.
 */
#ifndef BV_BINLOG_GTID_INTERNAL_H
#define BV_BINLOG_GTID_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/crypto.h"

/* ASCII classes by hand: the server parses bytes, not the current locale's characters. */
static inline bool
isSpaceChar(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline bool
isDigitChar(char c) {
    return c >= '0' && c <= '9';
}

static inline bool
isAlphaChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline const char *
skipSpace(const char *s) {
    while (isSpaceChar(*s))
        s++;
    return s;
}

/* Length of the token at s for an error message: up to a character of stop, a space or the end,
 * at least 1 character when there is one, at most 40. */
static inline int
tokenLen(const char *s, const char *stop) {
    int n = 0;

    while (s[n] != '\0' && n < 40 && !isSpaceChar(s[n]) && strchr(stop, s[n]) == NULL)
        n++;
    if (n == 0 && s[0] != '\0')
        n = 1;
    return n;
}

/* The text quoted in an error message: control characters (the ",\n" of server output) shown as
 * spaces, cut at 80 characters. */
static inline void
quoteText(char *out, size_t size, const char *text) {
    size_t o = 0, i = 0;

    for (; text[i] != '\0' && i < 80 && o + 1 < size; i++)
        out[o++] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    out[o] = '\0';
    if (text[i] != '\0' && o + 4 < size)
        strcpy(out + o, "...");
}

#endif
