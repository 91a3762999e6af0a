// kapi/fwps_pend_operation.cpp - FwpsPendOperation0 / FwpsCompleteOperation0 of fwpsk.h (SPEC
// S15.4) over engine/pended_operations.h. The completion handle is the one of
// FWPS_METADATA_FIELD_COMPLETION_HANDLE, present at ALE_AUTH_CONNECT; the redirect layers supply
// none (they pend with FwpsPendClassify0), so there the call fails with STATUS_FWP_CANNOT_PEND
// and the verifier says why.
#include <fwpsk.h>

#include "kapi/abi.h"

using namespace openwfp;
using namespace openwfp::kapi;

extern "C" {

NTSTATUS NTAPI FwpsPendOperation0(HANDLE completionHandle, HANDLE* completionContext) {
  OPENWFP_KAPI_GUARD_BEGIN
  uint64_t ctx = 0;
  engine::Status s = eng().pendOperation(handleValue(completionHandle), completionContext ? &ctx : nullptr);
  if (completionContext) *completionContext = toHandle(ctx);
  return nt(s);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

// netBufferList is accepted and not used: at ALE_AUTH_CONNECT openwfp passes no packet (layer
// data is NULL), and pended packet data is flushed anyway (the application retransmits).
void NTAPI FwpsCompleteOperation0(HANDLE completionContext, PNET_BUFFER_LIST netBufferList) {
  (void)netBufferList;
  try {
    eng().completeOperation(handleValue(completionContext));
  } catch (...) {
  }
}

}  // extern "C"
