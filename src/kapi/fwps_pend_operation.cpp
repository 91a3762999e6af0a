// kapi/fwps_pend_operation.cpp - FwpsPendOperation0 / FwpsCompleteOperation0 of fwpsk.h: pending
// a packet-layer operation that supplies a completion handle (SPEC S6).
#include <fwpsk.h>

extern "C" {

NTSTATUS NTAPI FwpsPendOperation0(HANDLE completionHandle, HANDLE* completionContext) {
  // openwfp classifies no layer that supplies a completion handle; the redirect layers pend
  // with FwpsPendClassify0.
  (void)completionHandle;
  if (completionContext) *completionContext = nullptr;
  return STATUS_FWP_CANNOT_PEND;
}

void NTAPI FwpsCompleteOperation0(HANDLE completionContext, PNET_BUFFER_LIST netBufferList) {
  (void)completionContext;
  (void)netBufferList;
}

}  // extern "C"
