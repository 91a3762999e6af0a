/* in6addr.h - IN6_ADDR, defined in ws2ipdef.h for openwfp. */
#include "ws2ipdef.h"
