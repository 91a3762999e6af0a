/*
 * ntdef.h - the basic NT types, status helpers, counted strings and lists (SPEC S15.2). In
 * openwfp they live in openwfp_km_base.h; this header also brings the NTDDI_* constants.
 */
#ifndef OPENWFP_KM_NTDEF_H
#define OPENWFP_KM_NTDEF_H
#include "openwfp_km_base.h"
#include "sdkddkver.h"
#include "ntstatus.h"
#endif /* OPENWFP_KM_NTDEF_H */
