/* openwfp_km_ext.h - the openwfp extensions a callout driver may use beyond the WDK API: a
 * BLOCK's errno, and the application's socket for the proxy (below).
 *
 * A connect that a callout BLOCKs fails on Linux with the session's block errno (ECONNREFUSED by
 * default, SPEC S13.3; Windows reports WSAEACCES and offers no choice). A callout that wants its
 * BLOCK to fail the call with another errno (the policy driver's `block = "EHOSTUNREACH"`, or the
 * upstream's own error in the verify-before-accept flow) marks the classifyOut it returns, or the
 * one it passes to FwpsCompleteClassify0, with OPENWFP_SET_BLOCK_ERRNO. The mark lives in the
 * `reserved` member, which Windows ignores; a PERMIT, CONTINUE or a BLOCK that does not decide the
 * classify ignores it too. errno values 1..4095; 0 clears the mark.
 *
 * On Windows define the macro away: `#define OPENWFP_SET_BLOCK_ERRNO(out, e) ((void)0)`.
 */
#ifndef OPENWFP_KM_EXT_H
#define OPENWFP_KM_EXT_H

#include <wdm.h>

#define OPENWFP_BLOCK_ERRNO_MARK 0x4F450000u /* 'OE' in the high half of reserved */
#define OPENWFP_SET_BLOCK_ERRNO(classifyOut, errnoValue)                                        \
  ((classifyOut)->reserved = ((errnoValue) > 0 && (errnoValue) < 4096)                        \
                                 ? (OPENWFP_BLOCK_ERRNO_MARK | (UINT32)(errnoValue))            \
                                 : 0u)

/* OpenwfpIrpAttachApplicationSocket: the requester of Irp, an outstanding IRP_MJ_DEVICE_CONTROL
 * (a proxy's inverted-call request), gets the application's own socket of the connect that the
 * classify ClassifyHandle (acquired, typically pended) classifies, with the reply: the same open
 * file, passed as a descriptor (SCM_RIGHTS over the control channel; openwfp_device_take_descriptor
 * in the proxy). The descriptor is delivered only when Irp completes with a status that is not an
 * error; a second call for the same Irp replaces the first. With it the proxy connects the
 * application's socket itself (docs/performance.md, "Hand-off in place").
 * Returns STATUS_SUCCESS; STATUS_INVALID_HANDLE for a stale classify handle (reported);
 * STATUS_NOT_SUPPORTED where the stack has no such socket (the simulated stack, a bind, a
 * classify already answered); STATUS_INVALID_PARAMETER when Irp is not an outstanding
 * DEVICE_CONTROL IRP. Windows has no counterpart: guard the call with #ifdef OPENWFP_KM_EXT_H.
 * Any IRQL; takes no spin lock of the caller's. */
#ifdef __cplusplus
extern "C" {
#endif
NTSTATUS OpenwfpIrpAttachApplicationSocket(PIRP Irp, UINT64 ClassifyHandle);
#ifdef __cplusplus
}
#endif

#endif
