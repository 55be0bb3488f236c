/* Forwarding operations of the unit tests' wrapping store drivers (storage_wrap.h). */
#include "tests/unit/storage_wrap.h"

/* The wrapped store: the driver's first member. */
static Storage *
inner(void *driver) {
    return *(Storage **)driver;
}

IoRead *
wrapOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err) {
    return storageOpenRead(inner(driver), name, offset, length, err);
}

int
wrapHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    return storageHead(inner(driver), name, out, err);
}

int
wrapList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    return storageList(inner(driver), prefix, cb, data, err);
}

int
wrapRemove(void *driver, const char *name, Err *err) {
    return storageRemove(inner(driver), name, err);
}

int
wrapCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err) {
    return storageCleanTemp(inner(driver), minAgeSec, removed, err);
}
