/*
 * driverspecs.h - the driver annotations (_IRQL_*, __drv_*, _Kernel_*) (SPEC S15.2). openwfp has no static analyzer that reads
 * them: every annotation compiles to nothing. They are defined in openwfp_km_base.h (which
 * every km header includes); this header lets drivers include <driverspecs.h> themselves.
 */
#ifndef OPENWFP_KM_DRIVERSPECS_H
#define OPENWFP_KM_DRIVERSPECS_H
#include "openwfp_km_base.h"
#endif /* OPENWFP_KM_DRIVERSPECS_H */
