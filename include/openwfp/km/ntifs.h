/*
 * ntifs.h - the installable file system kit header (SPEC S15.2). Callout drivers include it
 * for the security (SID, token) and process functions it adds to ntddk.h; openwfp's kernel
 * support lives in wdm.h, so this header includes ntddk.h and the SID basics.
 */
#ifndef OPENWFP_KM_NTIFS_H
#define OPENWFP_KM_NTIFS_H
#include "ntddk.h"
#include "ntsid.h"

/* Status values of the security functions (WDK ntstatus.h values). Kept here, not in ntstatus.h,
 * until openwfp's status-name table (logs, S11.2) names them. */
#ifndef STATUS_INVALID_SID
#define STATUS_INVALID_SID ((NTSTATUS)0xC0000078L)
#endif
#ifndef STATUS_TOO_MANY_COMMANDS
#define STATUS_TOO_MANY_COMMANDS ((NTSTATUS)0xC00000C1L)
#endif
#ifndef STATUS_INVALID_LABEL
#define STATUS_INVALID_LABEL ((NTSTATUS)0xC0000446L)
#endif

/* ---- Push locks (SPEC S15.2) -------------------------------------------------------------- */
/* A pointer-sized reader/writer lock, not recursive; callers are in a critical region. */
typedef struct _EX_PUSH_LOCK {
  union {
    volatile ULONG_PTR Value;
    volatile PVOID Ptr;
  };
} EX_PUSH_LOCK, *PEX_PUSH_LOCK;
#define EX_DEFAULT_PUSH_LOCK_FLAGS 0

OPENWFP_BEGIN_DECLS
void NTAPI ExInitializePushLock(_Out_ PEX_PUSH_LOCK PushLock);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL ExAcquirePushLockExclusiveEx(_Inout_ PEX_PUSH_LOCK PushLock,
                                                                          _In_ ULONG Flags);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL ExAcquirePushLockSharedEx(_Inout_ PEX_PUSH_LOCK PushLock,
                                                                       _In_ ULONG Flags);
_IRQL_requires_max_(DISPATCH_LEVEL) void FASTCALL ExReleasePushLockExclusiveEx(_Inout_ PEX_PUSH_LOCK PushLock,
                                                                               _In_ ULONG Flags);
_IRQL_requires_max_(DISPATCH_LEVEL) void FASTCALL ExReleasePushLockSharedEx(_Inout_ PEX_PUSH_LOCK PushLock,
                                                                            _In_ ULONG Flags);
OPENWFP_END_DECLS
#define ExAcquirePushLockExclusive(Lock) ExAcquirePushLockExclusiveEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)
#define ExAcquirePushLockShared(Lock) ExAcquirePushLockSharedEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)
#define ExReleasePushLockExclusive(Lock) ExReleasePushLockExclusiveEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)
#define ExReleasePushLockShared(Lock) ExReleasePushLockSharedEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)
#endif /* OPENWFP_KM_NTIFS_H */
