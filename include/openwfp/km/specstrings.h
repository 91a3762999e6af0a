/*
 * specstrings.h - the SAL source annotations (older names) (SPEC S15.2). openwfp has no static analyzer that reads
 * them: every annotation compiles to nothing. They are defined in openwfp_km_base.h (which
 * every km header includes); this header lets drivers include <specstrings.h> themselves.
 */
#ifndef OPENWFP_KM_SPECSTRINGS_H
#define OPENWFP_KM_SPECSTRINGS_H
#include "openwfp_km_base.h"
#endif /* OPENWFP_KM_SPECSTRINGS_H */
