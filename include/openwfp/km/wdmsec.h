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

#define SDDL_DEVOBJ_KERNEL_ONLY L"D:P"
#define SDDL_DEVOBJ_SYS_ALL L"D:P(A;;GA;;;SY)"
#define SDDL_DEVOBJ_SYS_ALL_ADM_ALL L"D:P(A;;GA;;;SY)(A;;GA;;;BA)"
#define SDDL_DEVOBJ_SYS_ALL_ADM_RX L"D:P(A;;GA;;;SY)(A;;GRGX;;;BA)"
#define SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_R L"D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GR;;;WD)"
#define SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RW_RES_R \
  L"D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGW;;;WD)(A;;GR;;;RC)"
#define SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RWX_RES_RWX \
  L"D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGWGX;;;WD)(A;;GRGWGX;;;RC)"

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
