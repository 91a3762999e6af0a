/*
 * ntifs.h - the installable file system kit header (SPEC S15.2). Callout drivers include it
 * for the security (SID, token) and process functions it adds to ntddk.h; openwfp's kernel
 * support lives in wdm.h, so this header includes ntddk.h and the SID basics.
 */
#ifndef OPENWFP_KM_NTIFS_H
#define OPENWFP_KM_NTIFS_H
#include "ntddk.h"
#include "ntsid.h"
#endif /* OPENWFP_KM_NTIFS_H */
