/*
 * Server addresses as URLs (common/url.h): the one parser of `mysql://USER@HOST:PORT` (with its
 * `?socket=PATH` form) and of `HOST:PORT`.
 */
#include "common/url.h"

#include <stdlib.h>

#include <errno.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "common/crypto.h"

/* Longest user accepted: COM_REGISTER_SLAVE and the handshake carry it with a 1-byte length. */
#define URL_USER_MAX 255
#define URL_HOST_MAX 255
/* sizeof(struct sockaddr_un.sun_path) - 1 on Linux: a longer path cannot be connected to. */
#define URL_SOCKET_MAX 107

static const char *const urlSchemes[] = {"mysql://", "mariadb://"};

static const char urlExpected[] = "expected mysql://USER@HOST[:PORT] or mysql://USER@localhost/?socket=PATH";

/* The URL as it may appear in a message: with any password replaced by "***". */
static char *
urlRedacted(const char *text) {
    const char *scheme = strstr(text, "://");
    const char *start = scheme ? scheme + 3 : text;
    const char *end = start + strcspn(start, "/?#");
    const char *at = NULL, *colon;

    for (const char *p = start; p < end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        return bvStrdup(text);
    colon = memchr(start, ':', (size_t)(at - start));
    if (colon == NULL)
        return bvStrdup(text);
    return bvSprintf("%.*s:***%s", (int)(colon - text), text, at);
}

static int urlFail(Err *err, const char *text, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
urlFail(Err *err, const char *text, const char *fmt, ...) {
    char *shown = urlRedacted(text);
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    errSet(err, ERR_USAGE, "invalid server URL '%s': %s", shown, why);
    bvFree(shown);
    return -1;
}

/* Percent-decode [p, end) into a new string; NULL (after setting err) on a bad escape. `what`
 * names the part in the message ("the user"). */
static char *
urlDecode(const char *text, const char *p, const char *end, const char *what, Err *err) {
    char *out = bvMalloc((size_t)(end - p) + 1);
    size_t n = 0;

    while (p < end) {
        if (*p == '%') {
            int hi = p + 1 < end ? cryptoHexDigit(p[1]) : -1;
            int lo = p + 2 < end ? cryptoHexDigit(p[2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                bvFree(out);
                urlFail(err, text, "bad percent escape in %s (expected %%XX, not %%00)", what);
                return NULL;
            }
            out[n++] = (char)(hi * 16 + lo);
            p += 3;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

static bool
hostNameChar(char c) {
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

static bool
hostIpv6Char(char c) {
    /* hex digits, ':' and '.' (embedded IPv4), '%' and alphanumerics of a zone id */
    return isalnum((unsigned char)c) || c == ':' || c == '.' || c == '%';
}

static int
urlParsePort(const char *text, const char *p, const char *end, unsigned *port, Err *err) {
    unsigned long v = 0;
    char shown[16];

    snprintf(shown, sizeof(shown), "%.*s", (int)(end - p < 10 ? end - p : 10), p);
    if (p == end)
        return urlFail(err, text, "%s", "empty port after ':'");
    if (end - p > 5)
        return urlFail(err, text, "invalid port '%s' (expected 1-65535)", shown);
    for (const char *q = p; q < end; q++) {
        if (!isdigit((unsigned char)*q))
            return urlFail(err, text, "invalid port '%s' (expected 1-65535)", shown);
        v = v * 10 + (unsigned long)(*q - '0');
    }
    if (v == 0 || v > 65535)
        return urlFail(err, text, "invalid port '%s' (expected 1-65535)", shown);
    *port = (unsigned)v;
    return 0;
}

/* What follows the address at `rest`: nothing, "/", or the one parameter "[/]?socket=PATH" (an
 * absolute path, percent-decoded into *socket). */
static int
urlParseSocket(const char *text, const char *rest, char **socket, Err *err) {
    static const char key[] = "socket=";
    const char *query = rest[0] == '/' ? rest + 1 : rest;

    *socket = NULL;
    if (*rest == '\0' || strcmp(rest, "/") == 0)
        return 0;
    if (query[0] != '?' || strncmp(query + 1, key, sizeof(key) - 1) != 0)
        return urlFail(err, text,
                       "unexpected '%s' after the address (a database or options are not part of a server URL; the "
                       "one parameter is ?socket=PATH)", rest);
    query += sizeof(key);
    if (strpbrk(query, "&#;") != NULL)
        return urlFail(err, text, "unexpected '%s' after the socket path (the one parameter is ?socket=PATH)",
                       query + strcspn(query, "&#;"));
    if ((*socket = urlDecode(text, query, query + strlen(query), "the socket path", err)) == NULL)
        return -1;
    if ((*socket)[0] != '/' || strlen(*socket) > URL_SOCKET_MAX) {
        bvFree(*socket);
        *socket = NULL;
        return urlFail(err, text, "the socket path must be absolute and at most %d bytes, e.g. "
                       "?socket=/run/mysqld/mysqld.sock", URL_SOCKET_MAX);
    }
    return 0;
}

MysqlUrl *
urlMysqlNew(const char *text, Err *err) {
    const char *start = NULL, *end, *at = NULL, *host, *hostEnd, *portStart = NULL;
    MysqlUrl *url;
    char *user = NULL, *socket = NULL;
    unsigned port = URL_MYSQL_DEFAULT_PORT;

    for (size_t i = 0; i < sizeof(urlSchemes) / sizeof(urlSchemes[0]); i++)
        if (strncasecmp(text, urlSchemes[i], strlen(urlSchemes[i])) == 0)
            start = text + strlen(urlSchemes[i]);
    if (start == NULL) {
        urlFail(err, text, "%s", urlExpected);
        return NULL;
    }
    end = start + strcspn(start, "/?#");
    if (urlParseSocket(text, end, &socket, err) != 0)
        return NULL;
    for (const char *p = start; p < end; p++)
        if (*p == '@')
            at = p;

    if (at != NULL) {
        if (memchr(start, ':', (size_t)(at - start)) != NULL) {
            urlFail(err, text, "%s",
                    "the URL must not contain a password: it comes from the environment "
                    "(BINVAULT_SOURCE_PASSWORD) or a 0600 file");
            return NULL;
        }
        if (at == start) {
            urlFail(err, text, "empty user before '@' (%s)", urlExpected);
            return NULL;
        }
        if ((user = urlDecode(text, start, at, "the user", err)) == NULL)
            return NULL;
        if (strlen(user) > URL_USER_MAX) {
            bvFree(user);
            urlFail(err, text, "%s", "user longer than 255 bytes");
            return NULL;
        }
        host = at + 1;
    } else {
        host = start;
    }

    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));

        if (close == NULL) {
            urlFail(err, text, "%s", "missing ']' after an IPv6 address");
            goto fail;
        }
        host++;
        hostEnd = close;
        if (hostEnd == host) {
            urlFail(err, text, "%s", "empty IPv6 address in '[]'");
            goto fail;
        }
        for (const char *p = host; p < hostEnd; p++)
            if (!hostIpv6Char(*p)) {
                char c[2] = {*p, '\0'};

                urlFail(err, text, "invalid character '%s' in the IPv6 address", c);
                goto fail;
            }
        if (close + 1 < end) {
            if (close[1] != ':') {
                urlFail(err, text, "unexpected '%s' after the IPv6 address", close + 1);
                goto fail;
            }
            portStart = close + 2;
        }
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));

        if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL) {
            urlFail(err, text, "%s", "an IPv6 address must be in brackets: mysql://USER@[::1]:3306");
            goto fail;
        }
        hostEnd = colon ? colon : end;
        if (colon != NULL)
            portStart = colon + 1;
        if (hostEnd == host) {
            urlFail(err, text, "missing host (%s)", urlExpected);
            goto fail;
        }
        for (const char *p = host; p < hostEnd; p++)
            if (!hostNameChar(*p)) {
                char c[2] = {*p, '\0'};

                urlFail(err, text, "invalid character '%s' in the host", c);
                goto fail;
            }
    }
    if (hostEnd - host > URL_HOST_MAX) {
        urlFail(err, text, "%s", "host longer than 255 characters");
        goto fail;
    }
    if (portStart != NULL && urlParsePort(text, portStart, end, &port, err) != 0)
        goto fail;
    /* The server's socket is on this machine, and libmariadb would quietly use TCP for another host. */
    if (socket != NULL && (hostEnd - host != 9 || strncasecmp(host, "localhost", 9) != 0)) {
        urlFail(err, text, "%s", "a socket is on this machine: write mysql://USER@localhost/?socket=PATH");
        goto fail;
    }
    if (socket != NULL && portStart != NULL) {
        urlFail(err, text, "%s", "a port does not go with ?socket=PATH");
        goto fail;
    }

    url = bvCalloc(1, sizeof(*url));
    url->user = user;
    url->socket = socket;
    url->host = bvStrndup(host, (size_t)(hostEnd - host));
    url->port = port;
    return url;

fail:
    bvFree(user);
    bvFree(socket);
    return NULL;
}

/* text percent-encoded where it would end its part of a URL; '/' kept when keepSlash. */
static char *
urlEncode(const char *text, bool keepSlash) {
    char *enc = bvMalloc(strlen(text) * 3 + 1);
    size_t n = 0;

    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '@' || c == ':' || (c == '/' && !keepSlash) || c == '%' || c == '?' || c == '#' || c == '&' ||
            c == ';' || c <= 0x20 || c >= 0x7f) {
            snprintf(enc + n, 4, "%%%02X", c);
            n += 3;
        } else {
            enc[n++] = (char)c;
        }
    }
    enc[n] = '\0';
    return enc;
}

char *
urlMysqlFormat(const char *user, const char *host, unsigned port) {
    const char *open = strchr(host, ':') ? "[" : "", *close = *open ? "]" : "";
    char *enc, *out;

    if (user == NULL)
        return bvSprintf("mysql://%s%s%s:%u", open, host, close, port);
    enc = urlEncode(user, false);
    out = bvSprintf("mysql://%s@%s%s%s:%u", enc, open, host, close, port);
    bvFree(enc);
    return out;
}

char *
urlMysqlFormatSocket(const char *user, const char *socket) {
    char *encUser = user != NULL ? urlEncode(user, false) : NULL, *encPath = urlEncode(socket, true);
    char *out = bvSprintf("mysql://%s%slocalhost/?socket=%s", encUser ? encUser : "", encUser ? "@" : "", encPath);

    bvFree(encUser);
    bvFree(encPath);
    return out;
}

void
urlMysqlFree(MysqlUrl *url) {
    if (url == NULL)
        return;
    bvFree(url->user);
    bvFree(url->host);
    bvFree(url->socket);
    bvFree(url);
}

int
urlHostPortParse(const char *text, const char *option, char **host, uint16_t *port, Err *err) {
    const char *colon, *hostStart = text, *hostEnd;
    char *end;
    unsigned long v;

    if (text[0] == '[') {
        hostStart = text + 1;
        hostEnd = strchr(text, ']');
        colon = hostEnd ? hostEnd + 1 : NULL;
        if (colon != NULL && *colon != ':')
            colon = NULL;
    } else {
        /* An IPv6 address needs its brackets: "::1:80" would be ambiguous. */
        colon = strchr(text, ':');
        hostEnd = colon;
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            colon = NULL;
    }
    if (colon == NULL || hostEnd == hostStart)
        return errSet(err, ERR_USAGE, "invalid %s '%s': expected ADDR:PORT ([IPv6]:PORT), e.g. 127.0.0.1:0", option, text);
    errno = 0;
    v = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || v > 65535 || colon[1] == '-')
        return errSet(err, ERR_USAGE, "invalid %s '%s': the port must be 0 to 65535", option, text);
    *host = bvStrndup(hostStart, (size_t)(hostEnd - hostStart));
    *port = (uint16_t)v;
    return 0;
}
