/*
 * sal.h - the SAL 2 source annotations (SPEC S15.2). openwfp has no static analyzer that reads
 * them: every annotation compiles to nothing. They are defined in openwfp_km_base.h (which
 * every km header includes); this header lets drivers include <sal.h> themselves.
 */
#ifndef OPENWFP_KM_SAL_H
#define OPENWFP_KM_SAL_H
#include "openwfp_km_base.h"
#endif /* OPENWFP_KM_SAL_H */
