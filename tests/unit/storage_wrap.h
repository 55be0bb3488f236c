/*
 * Test drivers that wrap a directory store (faults, fakes of S3's way of reading a source): the
 * operations a wrapper does not change, forwarded to the store it wraps. A wrapping driver's
 * struct has that store as its first member (`Storage *inner`), so that these take the driver as
 * it is given to the vtable.
 */
#ifndef BV_TESTS_UNIT_STORAGE_WRAP_H
#define BV_TESTS_UNIT_STORAGE_WRAP_H

#include "storage/storage.h"

IoRead *wrapOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err);
int wrapHead(void *driver, const char *name, StorageInfo *out, Err *err);
int wrapList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err);
int wrapRemove(void *driver, const char *name, Err *err);
int wrapCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err);

#endif
