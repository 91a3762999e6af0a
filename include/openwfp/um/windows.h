/*
 * windows.h - the subset of the Windows SDK's <windows.h> a WFP management program needs
 * (SPEC S14.4): base types (DWORD, UINT8..UINT64, BOOL, HANDLE, wide strings), GUID, WINAPI,
 * the Win32 error codes the user-mode Fwpm* functions return (ERROR_*, FWP_E_*), the RPC
 * authentication constants of FwpmEngineOpen0, and the memory macros programs use.
 *
 * The types are the very ones the kernel-mode headers of include/openwfp/km define (a management
 * program and a driver see the same FWPM_FILTER0), so this header includes them from there.
 * Compile a Windows management program with -I include/openwfp/um; include <fwpmu.h> after it.
 */
#ifndef OPENWFP_UM_WINDOWS_H
#define OPENWFP_UM_WINDOWS_H

#include "../km/openwfp_km_base.h"
#include "../km/guiddef.h"
#include "../km/winerror.h"

/* ---- Win32 error codes beyond those of winerror.h's shared part (Windows SDK values) ------- */
#ifndef ERROR_FILE_NOT_FOUND
#define ERROR_FILE_NOT_FOUND 2L
#endif
#ifndef ERROR_INVALID_DATA
#define ERROR_INVALID_DATA 13L
#endif
#ifndef ERROR_OUTOFMEMORY
#define ERROR_OUTOFMEMORY 14L
#endif
#ifndef ERROR_GEN_FAILURE
#define ERROR_GEN_FAILURE 31L
#endif
#ifndef ERROR_NOT_SUPPORTED
#define ERROR_NOT_SUPPORTED 50L
#endif
#ifndef ERROR_CALL_NOT_IMPLEMENTED
#define ERROR_CALL_NOT_IMPLEMENTED 120L
#endif
#ifndef ERROR_NO_MORE_ITEMS
#define ERROR_NO_MORE_ITEMS 259L
#endif
#ifndef ERROR_TIMEOUT
#define ERROR_TIMEOUT 1460L
#endif
/* The RPC binding errors fwpuclnt returns when the Base Filtering Engine cannot be reached.
 * openwfp returns EPT_S_NOT_REGISTERED when no engine listens on the socket (docs/management-api.md)
 * and RPC_S_CALL_FAILED when the connection breaks during a call. */
#ifndef RPC_S_SERVER_UNAVAILABLE
#define RPC_S_SERVER_UNAVAILABLE 1722L
#define RPC_S_CALL_FAILED 1726L
#define EPT_S_NOT_REGISTERED 1753L
#endif

#ifndef HRESULT_FROM_WIN32
#define HRESULT_FROM_WIN32(x) \
  ((HRESULT)(x) <= 0 ? ((HRESULT)(x)) : ((HRESULT)(((x)&0x0000FFFF) | (7 << 16) | 0x80000000)))
#endif

/* ---- RPC authentication services (rpcdce.h; FwpmEngineOpen0.authnService) ---------------- */
#ifndef RPC_C_AUTHN_NONE
#define RPC_C_AUTHN_NONE 0
#define RPC_C_AUTHN_DCE_PRIVATE 1
#define RPC_C_AUTHN_DCE_PUBLIC 2
#define RPC_C_AUTHN_DEC_PUBLIC 4
#define RPC_C_AUTHN_GSS_NEGOTIATE 9
#define RPC_C_AUTHN_WINNT 10
#define RPC_C_AUTHN_GSS_SCHANNEL 14
#define RPC_C_AUTHN_GSS_KERBEROS 16
#define RPC_C_AUTHN_DEFAULT 0xFFFFFFFFL
#endif

/* ---- Small things management programs use ------------------------------------------------- */
#ifndef INFINITE
#define INFINITE 0xFFFFFFFF
#endif
#ifndef MAX_PATH
#define MAX_PATH 260
#endif
#ifndef ZeroMemory
#define ZeroMemory RtlZeroMemory
#define CopyMemory RtlCopyMemory
#define MoveMemory RtlMoveMemory
#define FillMemory RtlFillMemory
#define SecureZeroMemory RtlZeroMemory
#endif

#ifndef OPENWFP_UM_UUID_DEFINED
#define OPENWFP_UM_UUID_DEFINED
typedef GUID UUID;
#endif

#endif /* OPENWFP_UM_WINDOWS_H */
