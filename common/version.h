#ifndef BV_COMMON_VERSION_H
#define BV_COMMON_VERSION_H

#define BV_VERSION "0.1.0"

#endif
