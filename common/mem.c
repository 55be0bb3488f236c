#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void
oom(size_t size) {
    fprintf(stderr, "binvault: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
bvMalloc(size_t size) {
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *
bvCalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        oom(n * size);
    return p;
}

void *
bvRealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

char *
bvStrdup(const char *s) {
    return bvStrndup(s, strlen(s));
}

char *
bvStrndup(const char *s, size_t n) {
    char *p = bvMalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
bvSprintf(const char *fmt, ...) {
    va_list ap;
    int len;
    char *p;

    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        bvAssertFail("vsnprintf length", __FILE__, __LINE__);
    p = bvMalloc((size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
bvFree(void *ptr) {
    free(ptr);
}

void
bvAssertFail(const char *what, const char *file, int line) {
    fprintf(stderr, "binvault: assertion failed: %s at %s:%d\n", what, file, line);
    abort();
}
