// kapi/fwps_classify.cpp - classify handles (S5.1), writable layer data (S5.2-S5.4) and
// pend/complete (S6) of fwpsk.h over the engine.
#include "kapi/abi.h"
#include "verifier/verifier.h"

using namespace openwfp;
using namespace openwfp::kapi;
using engine::Status;

namespace {

void report(verifier::Code code, std::string message, uint64_t filterId = 0) {
  verifier::Violation v{code, std::move(message), verifier::currentDriver(), {}, filterId};
  Runtime::current().verifier().report(std::move(v));
}

bool sameSockaddr(const SOCKADDR_STORAGE& a, const SOCKADDR_STORAGE& b) {
  Endpoint ea, eb;
  bool va = endpointFromSockaddr(a, ea);
  bool vb = endpointFromSockaddr(b, eb);
  if (va != vb) return false;
  if (!va) return std::memcmp(&a, &b, sizeof a) == 0;
  return ea == eb;
}

void fillConnect(FWPS_CONNECT_REQUEST0& r, const engine::LayerData& d) {
  std::memset(&r, 0, sizeof r);
  sockaddrFromEndpoint(d.local, r.localAddressAndPort);
  sockaddrFromEndpoint(d.remote, r.remoteAddressAndPort);
  r.portReservationToken = d.portReservationToken;
  r.localRedirectTargetPID = d.localRedirectTargetPid;
  r.modifierFilterId = d.modifierFilterId;
  r.localRedirectHandle = toHandle(d.localRedirectHandle);
  r.localRedirectContext = d.localRedirectContext;
  r.localRedirectContextSize = d.localRedirectContextSize;
}

void fillBind(FWPS_BIND_REQUEST0& r, const engine::LayerData& d) {
  std::memset(&r, 0, sizeof r);
  sockaddrFromEndpoint(d.local, r.localAddressAndPort);
  r.portReservationToken = d.portReservationToken;
  r.modifierFilterId = d.modifierFilterId;
}

engine::ClassifyOut fromAbi(const FWPS_CLASSIFY_OUT0& c) {
  engine::ClassifyOut o;
  o.actionType = c.actionType;
  o.outContext = c.outContext;
  o.filterId = c.filterId;
  o.rights = c.rights;
  o.flags = c.flags;
  o.reserved = c.reserved;
  return o;
}

}  // namespace

extern "C" {

NTSTATUS NTAPI FwpsAcquireClassifyHandle0(void* classifyContext, UINT32 flags,
                                          UINT64* classifyHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!classifyContext || flags != 0 || !classifyHandle) return STATUS_INVALID_PARAMETER;
  uint64_t h = 0;
  Status s = eng().acquireClassifyHandle(classifyContext, flags, &h);
  if (s == Status::Success) *classifyHandle = h;
  return nt(s);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

void NTAPI FwpsReleaseClassifyHandle0(UINT64 classifyHandle) {
  try {
    eng().releaseClassifyHandle(classifyHandle);
  } catch (...) {
  }
}

NTSTATUS NTAPI FwpsPendClassify0(UINT64 classifyHandle, UINT64 filterId, UINT32 flags,
                                 FWPS_CLASSIFY_OUT0* classifyOut) {
  OPENWFP_KAPI_GUARD_BEGIN
  (void)classifyOut;
  return nt(eng().pend(classifyHandle, filterId, flags));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

void NTAPI FwpsCompleteClassify0(UINT64 classifyHandle, UINT32 flags,
                                 const FWPS_CLASSIFY_OUT0* classifyOut) {
  try {
    if (classifyOut) {
      engine::ClassifyOut o = fromAbi(*classifyOut);  // the engine keeps its own copy (S6.2)
      eng().complete(classifyHandle, flags, &o);
    } else {
      eng().complete(classifyHandle, flags, nullptr);
    }
  } catch (...) {
  }
}

NTSTATUS NTAPI FwpsAcquireWritableLayerDataPointer0(UINT64 classifyHandle, UINT64 filterId,
                                                    UINT32 flags, PVOID* writableLayerData,
                                                    FWPS_CLASSIFY_OUT0* classifyOut) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!writableLayerData) return STATUS_INVALID_PARAMETER;
  *writableLayerData = nullptr;
  engine::Engine::Writable w;
  Status s = eng().acquireWritable(classifyHandle, filterId, flags,
                                   classifyOut ? &classifyOut->rights : nullptr,
                                   classifyOut ? &classifyOut->actionType : nullptr, &w);
  if (s != Status::Success) return nt(s);
  auto c = eng().classifyForHandle(classifyHandle, "FwpsAcquireWritableLayerDataPointer0");
  if (!c) return STATUS_INVALID_HANDLE;
  auto abi = abiOf(*c);
  auto buf = std::make_unique<WritableBuffer>();
  buf->token = w.token;
  buf->bind = c->layer().writable == engine::WritableData::BindRequest;
  if (buf->bind) {
    fillBind(buf->bindReq, w.data);
    FWPS_BIND_REQUEST0* prevPtr = nullptr;
    // previousVersion: newest first (S5.3); build from the oldest so each links to the older.
    for (auto it = w.previous.rbegin(); it != w.previous.rend(); ++it) {
      auto node = std::make_unique<FWPS_BIND_REQUEST0>();
      fillBind(*node, *it);
      node->previousVersion = prevPtr;
      prevPtr = node.get();
      buf->bindChain.push_back(std::move(node));
    }
    buf->bindReq.previousVersion = prevPtr;
    buf->bindOriginal = buf->bindReq;
    *writableLayerData = &buf->bindReq;
  } else {
    fillConnect(buf->connect, w.data);
    FWPS_CONNECT_REQUEST0* prevPtr = nullptr;
    for (auto it = w.previous.rbegin(); it != w.previous.rend(); ++it) {
      auto node = std::make_unique<FWPS_CONNECT_REQUEST0>();
      fillConnect(*node, *it);
      node->previousVersion = prevPtr;
      prevPtr = node.get();
      buf->connectChain.push_back(std::move(node));
    }
    buf->connect.previousVersion = prevPtr;
    buf->connectOriginal = buf->connect;
    *writableLayerData = &buf->connect;
  }
  std::lock_guard lock(abi->mu);
  abi->writables.push_back(std::move(buf));
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

void NTAPI FwpsApplyModifiedLayerData0(UINT64 classifyHandle, PVOID modifiedLayerData,
                                       UINT32 flags) {
  try {
    auto c = eng().classifyForHandle(classifyHandle, "FwpsApplyModifiedLayerData0");
    if (!c) return;
    if (!modifiedLayerData) {
      report(verifier::Code::InvalidArgument, "FwpsApplyModifiedLayerData0 with NULL data");
      return;
    }
    auto abi = abiOf(*c);
    WritableBuffer* buf = nullptr;
    {
      std::lock_guard lock(abi->mu);
      for (auto& b : abi->writables)
        if ((b->bind ? static_cast<void*>(&b->bindReq) : static_cast<void*>(&b->connect)) ==
            modifiedLayerData)
          buf = b.get();
    }
    if (!buf) {
      report(verifier::Code::InvalidArgument,
             "FwpsApplyModifiedLayerData0 with a pointer that FwpsAcquireWritableLayerDataPointer0 "
             "did not return for this classify");
      return;
    }
    engine::LayerData d;
    std::vector<std::string> changed;
    if (buf->bind) {
      const auto& r = buf->bindReq;
      const auto& o = buf->bindOriginal;
      if (r.previousVersion != o.previousVersion) changed.push_back("previousVersion");
      if (r.modifierFilterId != o.modifierFilterId) changed.push_back("modifierFilterId");
      if (!endpointFromSockaddr(r.localAddressAndPort, d.local)) {
        report(verifier::Code::InvalidArgument,
               "FWPS_BIND_REQUEST0.localAddressAndPort is not AF_INET/AF_INET6: change ignored");
        endpointFromSockaddr(o.localAddressAndPort, d.local);
      }
      d.portReservationToken = r.portReservationToken;
    } else {
      const auto& r = buf->connect;
      const auto& o = buf->connectOriginal;
      // S5.4: only remoteAddressAndPort, portReservationToken and the localRedirect* members
      // are writable at connect-redirect.
      if (!sameSockaddr(r.localAddressAndPort, o.localAddressAndPort))
        changed.push_back("localAddressAndPort");
      if (r.previousVersion != o.previousVersion) changed.push_back("previousVersion");
      if (r.modifierFilterId != o.modifierFilterId) changed.push_back("modifierFilterId");
      if (!endpointFromSockaddr(r.remoteAddressAndPort, d.remote)) {
        report(verifier::Code::InvalidArgument,
               "FWPS_CONNECT_REQUEST0.remoteAddressAndPort is not AF_INET/AF_INET6: change ignored");
        endpointFromSockaddr(o.remoteAddressAndPort, d.remote);
      }
      d.portReservationToken = r.portReservationToken;
      d.localRedirectTargetPid = r.localRedirectTargetPID;
      d.localRedirectHandle = handleValue(r.localRedirectHandle);
      d.localRedirectContext = r.localRedirectContext;
      d.localRedirectContextSize = r.localRedirectContextSize;
    }
    for (const auto& field : changed)
      report(verifier::Code::ReadOnlyFieldChanged,
             std::string(buf->bind ? "FWPS_BIND_REQUEST0." : "FWPS_CONNECT_REQUEST0.") + field +
                 " is read-only: the change is ignored");
    Status s = eng().applyWritable(classifyHandle, buf->token, d, flags);
    if (s != Status::Success)
      report(verifier::Code::InvalidArgument,
             std::string("FwpsApplyModifiedLayerData0 failed: ") + engine::toString(s));
  } catch (...) {
  }
}

}  // extern "C"
