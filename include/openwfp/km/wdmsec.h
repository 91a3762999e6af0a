/*
 * wdmsec.h - device objects with a security descriptor (SPEC S14.6): IoCreateDeviceSecure and
 * the SDDL_DEVOBJ_* strings of the WDK. openwfp maps the SIDs to Linux openers (SY = the
 * engine's uid, BA = root, WD = everyone, RC = a process inside a supervised tree, ...): see
 * docs/control-channel.md "Device security" and src/km/sddl.h.
 */
#ifndef OPENWFP_KM_WDMSEC_H
#define OPENWFP_KM_WDMSEC_H

#include "wdm.h"
#include "guiddef.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The WDK's SDDL strings for device objects, as UNICODE_STRING constants (wdmsec.lib on
 * Windows; libopenwfp here): pass &SDDL_DEVOBJ_... to IoCreateDeviceSecure or
 * WdfControlDeviceInitAllocate. */
extern const UNICODE_STRING SDDL_DEVOBJ_KERNEL_ONLY;         /* D:P */
extern const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL;             /* D:P(A;;GA;;;SY) */
extern const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_ALL;     /* + (A;;GA;;;BA) */
extern const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_RX;      /* + (A;;GRGX;;;BA) */
extern const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_R;
extern const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RW_RES_R;
extern const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RWX_RES_RWX;

/* IoCreateDevice with DefaultSDDLString as the device's security descriptor. A string outside
 * the supported subset fails with STATUS_INVALID_PARAMETER and one verifier line naming the
 * offset. DeviceClassGuid is accepted and not used (no class registry overrides the string). */
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
IoCreateDeviceSecure(_In_ PDRIVER_OBJECT DriverObject, _In_ ULONG DeviceExtensionSize,
                     _In_opt_ PUNICODE_STRING DeviceName, _In_ DEVICE_TYPE DeviceType,
                     _In_ ULONG DeviceCharacteristics, _In_ BOOLEAN Exclusive,
                     _In_ PCUNICODE_STRING DefaultSDDLString, _In_opt_ LPCGUID DeviceClassGuid,
                     _Outptr_result_nullonfailure_ PDEVICE_OBJECT *DeviceObject);

#ifdef __cplusplus
}
#endif

#endif /* OPENWFP_KM_WDMSEC_H */
