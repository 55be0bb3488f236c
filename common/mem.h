/*
 * Allocation wrappers. Running out of memory is not recoverable for binvault (as in Redis'
 * zmalloc): the wrappers print where and abort, so callers never check for NULL.
 */
#ifndef BV_COMMON_MEM_H
#define BV_COMMON_MEM_H

#include <stddef.h>

void *bvMalloc(size_t size);
void *bvCalloc(size_t n, size_t size);
void *bvRealloc(void *ptr, size_t size);
char *bvStrdup(const char *s);
char *bvStrndup(const char *s, size_t n);
/* printf into a freshly allocated string. */
char *bvSprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bvFree(void *ptr);

/* Invariant check that names file:line and aborts; active in every build. */
#define BV_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            bvAssertFail(#cond, __FILE__, __LINE__);                                               \
    } while (0)

_Noreturn void bvAssertFail(const char *what, const char *file, int line);

#endif
