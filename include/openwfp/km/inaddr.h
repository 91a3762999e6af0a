/* inaddr.h - IN_ADDR, defined in ws2def.h for openwfp. */
#include "ws2def.h"
