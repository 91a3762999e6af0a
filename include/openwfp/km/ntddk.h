/*
 * ntddk.h - kernel-mode driver header (SPEC S1.1). openwfp keeps the kernel support in wdm.h;
 * this header includes it so drivers that include <ntddk.h> (the usual WFP sample order) build.
 */
#ifndef OPENWFP_KM_NTDDK_H
#define OPENWFP_KM_NTDDK_H

#include "wdm.h"

#endif /* OPENWFP_KM_NTDDK_H */
