// kapi/fwps_redirect.cpp - redirect handles and redirect state (SPEC S7), the SIO-format redirect
// records (S8) and flow contexts of fwpsk.h.
#include <cstdio>

#include "kapi/abi.h"
#include "redirect/handles.h"
#include "redirect/history.h"
#include "redirect/records.h"
#include "verifier/verifier.h"

using namespace openwfp;
using namespace openwfp::kapi;
using engine::Status;

namespace {

void report(verifier::Code code, std::string message) {
  verifier::Violation v{code, std::move(message), verifier::currentDriver(), {}, 0};
  Runtime::current().verifier().report(std::move(v));
}

// Looks up a records handle; reports stale (S8.6) and unknown handles.
std::shared_ptr<redirect::History> recordsHistory(HANDLE records, const char* api) {
  engine::RecordsHandles::State state;
  auto h = eng().recordsHandles().find(handleValue(records), &state);
  if (h) return h;
  report(state == engine::RecordsHandles::State::Stale ? verifier::Code::UseAfterRelease
                                                       : verifier::Code::InvalidArgument,
         std::string(api) +
             (state == engine::RecordsHandles::State::Stale
                  ? ": the redirect records handle is no longer valid (it is valid during "
                    "classifyFn and, when the classify is pended, until it is completed)"
                  : ": not a redirect records handle"));
  return nullptr;
}

}  // namespace

extern "C" {

NTSTATUS NTAPI FwpsRedirectHandleCreate0(const GUID* providerGuid, UINT32 flags,
                                         HANDLE* redirectHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!providerGuid || !redirectHandle || flags != 0) return STATUS_INVALID_PARAMETER;
  std::array<uint8_t, 16> g{};
  std::memcpy(g.data(), providerGuid, 16);
  uint64_t id = Runtime::current().redirectHandles().create(g, verifier::currentDriver());
  *redirectHandle = toHandle(id);
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

void NTAPI FwpsRedirectHandleDestroy0(HANDLE redirectHandle) {
  try {
    if (!Runtime::current().redirectHandles().destroy(handleValue(redirectHandle)))
      report(verifier::Code::UseAfterRelease,
             "FwpsRedirectHandleDestroy0 on a redirect handle that is not live");
  } catch (...) {
  }
}

FWPS_CONNECTION_REDIRECT_STATE NTAPI FwpsQueryConnectionRedirectState0(HANDLE redirectRecords,
                                                                       HANDLE redirectHandle,
                                                                       void** redirectContext) {
  try {
    if (redirectContext) *redirectContext = nullptr;
    if (!redirectRecords) return FWPS_CONNECTION_NOT_REDIRECTED;
    auto history = recordsHistory(redirectRecords, "FwpsQueryConnectionRedirectState0");
    if (!history) return FWPS_CONNECTION_NOT_REDIRECTED;
    auto r = redirect::queryState(history.get(), handleValue(redirectHandle));
    if (redirectContext) *redirectContext = r.context;
    static const char* const kStateNames[] = {"NOT_REDIRECTED", "REDIRECTED_BY_SELF", "REDIRECTED_BY_OTHER",
                                              "PREVIOUSLY_REDIRECTED_BY_SELF"};
    int idx = static_cast<int>(r.state);
    char note[96];
    std::snprintf(note, sizeof note, "%s for redirect handle 0x%llx", idx >= 0 && idx < 4 ? kStateNames[idx] : "?",
                  static_cast<unsigned long long>(handleValue(redirectHandle)));
    eng().noteRedirectState(note);
    return static_cast<FWPS_CONNECTION_REDIRECT_STATE>(r.state);
  } catch (...) {
    return FWPS_CONNECTION_NOT_REDIRECTED;
  }
}

NTSTATUS NTAPI FwpsQueryConnectionSioFormatRedirectRecords0(HANDLE RedirectRecords,
                                                            PVOID OutputBuffer,
                                                            SIZE_T OutputBufferLength,
                                                            PSIZE_T BytesTransferred) {
  OPENWFP_KAPI_GUARD_BEGIN
  // S8.5: BytesTransferred may be NULL in every case.
  if (BytesTransferred) *BytesTransferred = 0;
  if (!RedirectRecords) return STATUS_NOT_FOUND;  // S8.1
  auto history = recordsHistory(RedirectRecords, "FwpsQueryConnectionSioFormatRedirectRecords0");
  if (!history) return STATUS_INVALID_HANDLE;  // S8.6
  const redirect::RecordsSealer& sealer = Runtime::current().sealer();
  // The common call passes a buffer that is large enough: seal straight into it (one pass over
  // the history). seal() writes nothing usable and returns 0 when the buffer is too small or the
  // history has more entries than the format holds; the sizing path below then answers.
  if (OutputBuffer && reinterpret_cast<uintptr_t>(OutputBuffer) % alignof(void*) == 0) {
    size_t n = sealer.seal(*history, {static_cast<uint8_t*>(OutputBuffer), OutputBufferLength});
    if (n != 0) {  // S8.2
      if (BytesTransferred) *BytesTransferred = n;
      return STATUS_SUCCESS;
    }
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    size_t need = sealer.sealedSize(*history);
    if (need == 0) return STATUS_NOT_SUPPORTED;  // more entries than the format holds
    if (!OutputBuffer || OutputBufferLength < need) {  // S8.3: size probe / short buffer
      if (BytesTransferred) *BytesTransferred = need;
      return STATUS_BUFFER_TOO_SMALL;
    }
    if (reinterpret_cast<uintptr_t>(OutputBuffer) % alignof(void*) != 0) {  // S8.4
      report(verifier::Code::MisalignedSioBuffer,
             "FwpsQueryConnectionSioFormatRedirectRecords0: OutputBuffer must be pointer-aligned");
      return STATUS_DATATYPE_MISALIGNMENT;
    }
    size_t n = sealer.seal(*history, {static_cast<uint8_t*>(OutputBuffer), OutputBufferLength});
    if (n != 0) {  // S8.2
      if (BytesTransferred) *BytesTransferred = n;
      return STATUS_SUCCESS;
    }
    // The history grew between sizing and sealing: size again.
  }
  if (BytesTransferred) *BytesTransferred = sealer.sealedSize(*history);
  return STATUS_BUFFER_TOO_SMALL;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

// Flow contexts live in the engine (engine/flow_contexts.h): counted per callout so that
// unregistering a callout whose flows still carry a context fails with STATUS_DEVICE_BUSY (S3.1).
NTSTATUS NTAPI FwpsFlowAssociateContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId,
                                         UINT64 flowContext) {
  OPENWFP_KAPI_GUARD_BEGIN
  return nt(eng().associateFlowContext(flowId, layerId, calloutId, flowContext));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpsFlowRemoveContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId) {
  OPENWFP_KAPI_GUARD_BEGIN
  return nt(eng().removeFlowContext(flowId, layerId, calloutId));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

}  // extern "C"
