/* openwfp_km_ext.h - the one openwfp extension a callout driver may use beyond the WDK API.
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

#define OPENWFP_BLOCK_ERRNO_MARK 0x4F450000u /* 'OE' in the high half of reserved */
#define OPENWFP_SET_BLOCK_ERRNO(classifyOut, errnoValue)                                        \
  ((classifyOut)->reserved = ((errnoValue) > 0 && (errnoValue) < 4096)                        \
                                 ? (OPENWFP_BLOCK_ERRNO_MARK | (UINT32)(errnoValue))            \
                                 : 0u)

#endif
