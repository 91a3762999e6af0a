/*
 * fwpmu.h - Windows Filtering Platform user-mode management API (SPEC S14.4;
 * docs/management-api.md).
 *
 * The Fwpm* functions of the Windows SDK's fwpmu.h with their SDK signatures: they return Win32
 * DWORDs (ERROR_SUCCESS, FWP_E_*, ERROR_ACCESS_DENIED, ...) as fwpuclnt.dll does, and act on the
 * running openwfp engine (`openwfp engine`) over its Unix socket ($OPENWFP_ENGINE, else the
 * default path of docs/management-api.md). One engine handle is one connection: closing it, or
 * the process ending, ends the session (a FWPM_SESSION_FLAG_DYNAMIC session's objects vanish).
 *
 * The kernel-mode functions of the same names (include/openwfp/km/fwpmk.h, NTSTATUS, acting in
 * the process that calls them) live in the same libopenwfp: the declarations below bind each
 * name to a distinct linker symbol (openwfp_um_<name>), so source written for Windows compiles
 * unchanged and links to the user-mode implementation. Do not include fwpmk.h in the same
 * translation unit. Types, GUIDs and constants are the kernel headers' (one FWPM_FILTER0).
 *
 * Include <windows.h> (include/openwfp/um/windows.h) first, as on Windows; this header includes
 * it in any case.
 */
#ifndef OPENWFP_UM_FWPMU_H
#define OPENWFP_UM_FWPMU_H

#include "windows.h"

/* With OPENWFP_UM_FWPMU_H defined, fwpmk.h gives its GUIDs, types and constants and leaves its
 * kernel-mode function declarations out. */
#include "../km/fwpmk.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OPENWFP_UM_SYMBOL(name) __asm__("openwfp_um_" #name)

/* ---- Sessions and transactions ------------------------------------------------------------ */
DWORD WINAPI FwpmEngineOpen0(const wchar_t *serverName, UINT32 authnService,
                             SEC_WINNT_AUTH_IDENTITY_W *authIdentity,
                             const FWPM_SESSION0 *session,
                             HANDLE *engineHandle) OPENWFP_UM_SYMBOL(FwpmEngineOpen0);
DWORD WINAPI FwpmEngineClose0(HANDLE engineHandle) OPENWFP_UM_SYMBOL(FwpmEngineClose0);
DWORD WINAPI FwpmTransactionBegin0(HANDLE engineHandle,
                                   UINT32 flags) OPENWFP_UM_SYMBOL(FwpmTransactionBegin0);
DWORD WINAPI FwpmTransactionCommit0(HANDLE engineHandle) OPENWFP_UM_SYMBOL(FwpmTransactionCommit0);
DWORD WINAPI FwpmTransactionAbort0(HANDLE engineHandle) OPENWFP_UM_SYMBOL(FwpmTransactionAbort0);

/* ---- Providers ---------------------------------------------------------------------------- */
DWORD WINAPI FwpmProviderAdd0(HANDLE engineHandle, const FWPM_PROVIDER0 *provider,
                              PSECURITY_DESCRIPTOR sd) OPENWFP_UM_SYMBOL(FwpmProviderAdd0);
DWORD WINAPI FwpmProviderDeleteByKey0(HANDLE engineHandle,
                                      const GUID *key) OPENWFP_UM_SYMBOL(FwpmProviderDeleteByKey0);
DWORD WINAPI FwpmProviderGetByKey0(HANDLE engineHandle, const GUID *key,
                                   FWPM_PROVIDER0 **provider) OPENWFP_UM_SYMBOL(FwpmProviderGetByKey0);
DWORD WINAPI FwpmProviderCreateEnumHandle0(HANDLE engineHandle,
                                           const FWPM_PROVIDER_ENUM_TEMPLATE0 *enumTemplate,
                                           HANDLE *enumHandle)
    OPENWFP_UM_SYMBOL(FwpmProviderCreateEnumHandle0);
DWORD WINAPI FwpmProviderEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                               FWPM_PROVIDER0 ***entries,
                               UINT32 *numEntriesReturned) OPENWFP_UM_SYMBOL(FwpmProviderEnum0);
DWORD WINAPI FwpmProviderDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
    OPENWFP_UM_SYMBOL(FwpmProviderDestroyEnumHandle0);

/* ---- Sublayers ---------------------------------------------------------------------------- */
DWORD WINAPI FwpmSubLayerAdd0(HANDLE engineHandle, const FWPM_SUBLAYER0 *subLayer,
                              PSECURITY_DESCRIPTOR sd) OPENWFP_UM_SYMBOL(FwpmSubLayerAdd0);
DWORD WINAPI FwpmSubLayerDeleteByKey0(HANDLE engineHandle,
                                      const GUID *key) OPENWFP_UM_SYMBOL(FwpmSubLayerDeleteByKey0);
DWORD WINAPI FwpmSubLayerGetByKey0(HANDLE engineHandle, const GUID *key,
                                   FWPM_SUBLAYER0 **subLayer) OPENWFP_UM_SYMBOL(FwpmSubLayerGetByKey0);
DWORD WINAPI FwpmSubLayerCreateEnumHandle0(HANDLE engineHandle,
                                           const FWPM_SUBLAYER_ENUM_TEMPLATE0 *enumTemplate,
                                           HANDLE *enumHandle)
    OPENWFP_UM_SYMBOL(FwpmSubLayerCreateEnumHandle0);
DWORD WINAPI FwpmSubLayerEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                               FWPM_SUBLAYER0 ***entries,
                               UINT32 *numEntriesReturned) OPENWFP_UM_SYMBOL(FwpmSubLayerEnum0);
DWORD WINAPI FwpmSubLayerDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
    OPENWFP_UM_SYMBOL(FwpmSubLayerDestroyEnumHandle0);

/* ---- Callouts (management objects; drivers register the run-time part) -------------------- */
DWORD WINAPI FwpmCalloutAdd0(HANDLE engineHandle, const FWPM_CALLOUT0 *callout,
                             PSECURITY_DESCRIPTOR sd, UINT32 *id) OPENWFP_UM_SYMBOL(FwpmCalloutAdd0);
DWORD WINAPI FwpmCalloutDeleteById0(HANDLE engineHandle,
                                    UINT32 id) OPENWFP_UM_SYMBOL(FwpmCalloutDeleteById0);
DWORD WINAPI FwpmCalloutDeleteByKey0(HANDLE engineHandle,
                                     const GUID *key) OPENWFP_UM_SYMBOL(FwpmCalloutDeleteByKey0);
DWORD WINAPI FwpmCalloutGetById0(HANDLE engineHandle, UINT32 id,
                                 FWPM_CALLOUT0 **callout) OPENWFP_UM_SYMBOL(FwpmCalloutGetById0);
DWORD WINAPI FwpmCalloutGetByKey0(HANDLE engineHandle, const GUID *key,
                                  FWPM_CALLOUT0 **callout) OPENWFP_UM_SYMBOL(FwpmCalloutGetByKey0);
DWORD WINAPI FwpmCalloutCreateEnumHandle0(HANDLE engineHandle,
                                          const FWPM_CALLOUT_ENUM_TEMPLATE0 *enumTemplate,
                                          HANDLE *enumHandle)
    OPENWFP_UM_SYMBOL(FwpmCalloutCreateEnumHandle0);
DWORD WINAPI FwpmCalloutEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                              FWPM_CALLOUT0 ***entries,
                              UINT32 *numEntriesReturned) OPENWFP_UM_SYMBOL(FwpmCalloutEnum0);
DWORD WINAPI FwpmCalloutDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
    OPENWFP_UM_SYMBOL(FwpmCalloutDestroyEnumHandle0);

/* ---- Filters ------------------------------------------------------------------------------ */
DWORD WINAPI FwpmFilterAdd0(HANDLE engineHandle, const FWPM_FILTER0 *filter,
                            PSECURITY_DESCRIPTOR sd, UINT64 *id) OPENWFP_UM_SYMBOL(FwpmFilterAdd0);
DWORD WINAPI FwpmFilterDeleteById0(HANDLE engineHandle,
                                   UINT64 id) OPENWFP_UM_SYMBOL(FwpmFilterDeleteById0);
DWORD WINAPI FwpmFilterDeleteByKey0(HANDLE engineHandle,
                                    const GUID *key) OPENWFP_UM_SYMBOL(FwpmFilterDeleteByKey0);
DWORD WINAPI FwpmFilterGetById0(HANDLE engineHandle, UINT64 id,
                                FWPM_FILTER0 **filter) OPENWFP_UM_SYMBOL(FwpmFilterGetById0);
DWORD WINAPI FwpmFilterGetByKey0(HANDLE engineHandle, const GUID *key,
                                 FWPM_FILTER0 **filter) OPENWFP_UM_SYMBOL(FwpmFilterGetByKey0);
DWORD WINAPI FwpmFilterCreateEnumHandle0(HANDLE engineHandle,
                                         const FWPM_FILTER_ENUM_TEMPLATE0 *enumTemplate,
                                         HANDLE *enumHandle)
    OPENWFP_UM_SYMBOL(FwpmFilterCreateEnumHandle0);
DWORD WINAPI FwpmFilterEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                             FWPM_FILTER0 ***entries,
                             UINT32 *numEntriesReturned) OPENWFP_UM_SYMBOL(FwpmFilterEnum0);
DWORD WINAPI FwpmFilterDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
    OPENWFP_UM_SYMBOL(FwpmFilterDestroyEnumHandle0);

/* ---- Memory and application ids ----------------------------------------------------------- */
/* Frees what a GetBy*, Enum or FwpmGetAppIdFromFileName0 call returned (one block each). */
void WINAPI FwpmFreeMemory0(void **p) OPENWFP_UM_SYMBOL(FwpmFreeMemory0);
DWORD WINAPI FwpmGetAppIdFromFileName0(PCWSTR fileName,
                                       FWP_BYTE_BLOB **appId) OPENWFP_UM_SYMBOL(FwpmGetAppIdFromFileName0);

#ifdef __cplusplus
}
#endif

#endif /* OPENWFP_UM_FWPMU_H */
