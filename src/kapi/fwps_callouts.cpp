// kapi/fwps_callouts.cpp - FwpsCalloutRegister0..3 / Unregister (SPEC S3) and the wrapper that
// calls a driver's classifyFn/notifyFn with the WDK structures (S4.1): incoming values with the
// layer's field indices, metadata with presence bits, a non-NULL classifyContext and the filter.
#include <cwchar>

#include "kapi/abi.h"
#include "km/support.h"
#include "verifier/verifier.h"

using namespace openwfp;
using namespace openwfp::kapi;
using engine::Status;

namespace {

constexpr uint8_t kDispatchLevel = 2;
constexpr uint8_t kPassiveLevel = 0;

void setUint8(FWP_VALUE0& v, uint8_t x) {
  v.type = FWP_UINT8;
  v.uint8 = x;
}
void setUint16(FWP_VALUE0& v, uint16_t x) {
  v.type = FWP_UINT16;
  v.uint16 = x;
}
void setUint32(FWP_VALUE0& v, uint32_t x) {
  v.type = FWP_UINT32;
  v.uint32 = x;
}

// Builds FWPS_INCOMING_VALUES0 and FWPS_INCOMING_METADATA_VALUES0 for the current round.
void buildClassifyAbi(engine::Classify& c, ClassifyAbi& abi) {
  if (abi.builtRound == c.round()) return;
  abi.builtRound = c.round();
  const engine::LayerInfo& layer = c.layer();
  const engine::ClassifyValues& v = c.values();
  abi.values.assign(layer.valueCount, FWPS_INCOMING_VALUE0{});
  auto at = [&](engine::Field f) -> FWP_VALUE0* {
    int16_t i = layer.index(f);
    return i >= 0 && static_cast<uint32_t>(i) < abi.values.size() ? &abi.values[i].value : nullptr;
  };
  abi.appId = v.appId;
  abi.appIdBlob.size = static_cast<UINT32>(abi.appId.size());
  abi.appIdBlob.data = abi.appId.empty() ? nullptr : abi.appId.data();
  if (auto* x = at(engine::Field::AppId)) {
    x->type = FWP_BYTE_BLOB_TYPE;
    x->byteBlob = &abi.appIdBlob;
  }
  // openwfp choice: ALE_USER_ID is the uid as FWP_UINT32 (Windows: a token/security descriptor).
  if (auto* x = at(engine::Field::UserId)) setUint32(*x, v.userId);
  auto setAddress = [&](FWP_VALUE0* x, const Endpoint& ep, uint32_t v4, FWP_BYTE_ARRAY16& store) {
    if (!x) return;
    if (!layer.v6) {
      setUint32(*x, v4);  // host byte order, as on Windows
    } else {
      std::memcpy(store.byteArray16, ep.addr.data(), 16);
      x->type = FWP_BYTE_ARRAY16_TYPE;
      x->byteArray16 = &store;
    }
  };
  setAddress(at(engine::Field::LocalAddress), v.local, v.localV4, abi.localV6);
  if (auto* x = at(engine::Field::LocalAddressType)) setUint8(*x, v.localAddressType);
  if (auto* x = at(engine::Field::LocalPort)) setUint16(*x, v.local.port);
  if (auto* x = at(engine::Field::Protocol)) setUint8(*x, v.protocol);
  setAddress(at(engine::Field::RemoteAddress), v.remote, v.remoteV4, abi.remoteV6);
  if (auto* x = at(engine::Field::DestinationAddressType)) setUint8(*x, v.destinationAddressType);
  if (auto* x = at(engine::Field::RemotePort)) setUint16(*x, v.remote.port);
  if (auto* x = at(engine::Field::Flags)) setUint32(*x, v.flags);
  abi.fixed.layerId = layer.runtimeId;
  abi.fixed.valueCount = static_cast<UINT32>(abi.values.size());
  abi.fixed.incomingValue = abi.values.data();

  const engine::ClassifyMetadata& md = c.metadata();
  FWPS_INCOMING_METADATA_VALUES0& m = abi.meta;
  std::memset(&m, 0, sizeof m);
  m.currentMetadataValues = FWPS_METADATA_FIELD_PROCESS_ID | FWPS_METADATA_FIELD_PROCESS_PATH;
  m.processId = md.processId;
  m.processPath = &abi.appIdBlob;
  m.packetDirection = FWP_DIRECTION_OUTBOUND;
  if (layer.redirectLayer && layer.writable == engine::WritableData::ConnectRequest) {
    m.currentMetadataValues |= FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE;
    m.redirectRecords = toHandle(md.redirectRecords);
  }
  if (md.flowHandle) {  // S15.4: the connection is the flow (FwpsFlowAssociateContext0)
    m.currentMetadataValues |= FWPS_METADATA_FIELD_FLOW_HANDLE;
    m.flowHandle = md.flowHandle;
  }
  if (c.completionHandle()) {  // S15.4: FwpsPendOperation0 (ALE_AUTH_CONNECT)
    m.currentMetadataValues |= FWPS_METADATA_FIELD_COMPLETION_HANDLE;
    m.completionHandle = toHandle(c.completionHandle());
  }
  if (md.hasLocalRedirectTargetPid) {
    m.currentMetadataValues |= FWPS_METADATA_FIELD_LOCAL_REDIRECT_TARGET_PID;
    m.localRedirectTargetPID = md.localRedirectTargetPid;
  }
  if (md.originalDestination) {
    sockaddrFromEndpoint(*md.originalDestination, abi.originalDestination);
    m.currentMetadataValues |= FWPS_METADATA_FIELD_ORIGINAL_DESTINATION;
    m.originalDestination = reinterpret_cast<SOCKADDR*>(&abi.originalDestination);
  }
}

FWPS_CLASSIFY_OUT0 toAbi(const engine::ClassifyOut& o) {
  FWPS_CLASSIFY_OUT0 c{};
  c.actionType = o.actionType;
  c.outContext = o.outContext;
  c.filterId = o.filterId;
  c.rights = o.rights;
  c.flags = o.flags;
  c.reserved = o.reserved;
  return c;
}

void fromAbi(const FWPS_CLASSIFY_OUT0& c, engine::ClassifyOut& o) {
  o.actionType = c.actionType;
  o.outContext = c.outContext;
  o.filterId = c.filterId;
  o.rights = c.rights;
  o.flags = c.flags;
  o.reserved = c.reserved;
}

// The driver functions of one registration (all four FWPS_CALLOUTn have the same layout).
class DriverCallout final : public engine::CalloutFunctions {
 public:
  DriverCallout(int version, void* classifyFn, void* notifyFn,
                FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn, std::string owner)
      : version_(version), classifyFn_(classifyFn), notifyFn_(notifyFn),
        flowDeleteFn_(flowDeleteFn), owner_(std::move(owner)) {}

  void classify(engine::Classify& c, const engine::Filter& f, engine::ClassifyOut& out) override {
    auto abi = abiOf(c);
    buildClassifyAbi(c, *abi);
    FilterView* view = viewOf(f);
    FWPS_CLASSIFY_OUT0 co = toAbi(out);
    {
      verifier::CurrentDriverScope scope(owner_);
      km::IrqlScope irql(kDispatchLevel);
      const void* ctx = c.context();
      switch (version_) {
        case 0:
          reinterpret_cast<FWPS_CALLOUT_CLASSIFY_FN0>(classifyFn_)(
              &abi->fixed, &abi->meta, nullptr, reinterpret_cast<const FWPS_FILTER0*>(&view->filter),
              0, &co);
          break;
        case 1:
          reinterpret_cast<FWPS_CALLOUT_CLASSIFY_FN1>(classifyFn_)(
              &abi->fixed, &abi->meta, nullptr, ctx,
              reinterpret_cast<const FWPS_FILTER1*>(&view->filter), 0, &co);
          break;
        case 2:
          reinterpret_cast<FWPS_CALLOUT_CLASSIFY_FN2>(classifyFn_)(
              &abi->fixed, &abi->meta, nullptr, ctx,
              reinterpret_cast<const FWPS_FILTER2*>(&view->filter), 0, &co);
          break;
        default:
          reinterpret_cast<FWPS_CALLOUT_CLASSIFY_FN3>(classifyFn_)(
              &abi->fixed, &abi->meta, nullptr, ctx, &view->filter, 0, &co);
          break;
      }
    }
    fromAbi(co, out);
  }

  int32_t notify(engine::NotifyType type, const engine::Filter& f) override {
    FilterView* view = viewOf(f);
    GUID key = fromGuid(f.spec.key);
    const GUID* keyArg = type == engine::NotifyType::AddFilter ? &key : nullptr;
    auto nt = static_cast<FWPS_CALLOUT_NOTIFY_TYPE>(type);
    verifier::CurrentDriverScope scope(owner_);
    km::IrqlScope irql(kPassiveLevel);
    switch (version_) {
      case 0:
        return reinterpret_cast<FWPS_CALLOUT_NOTIFY_FN0>(notifyFn_)(
            nt, keyArg, reinterpret_cast<FWPS_FILTER0*>(&view->filter));
      case 1:
        return reinterpret_cast<FWPS_CALLOUT_NOTIFY_FN1>(notifyFn_)(
            nt, keyArg, reinterpret_cast<FWPS_FILTER1*>(&view->filter));
      case 2:
        return reinterpret_cast<FWPS_CALLOUT_NOTIFY_FN2>(notifyFn_)(
            nt, keyArg, reinterpret_cast<FWPS_FILTER2*>(&view->filter));
      default:
        return reinterpret_cast<FWPS_CALLOUT_NOTIFY_FN3>(notifyFn_)(nt, keyArg, &view->filter);
    }
  }

  bool hasNotify() const override { return notifyFn_ != nullptr; }

  void flowDelete(uint16_t layerId, uint32_t calloutId, uint64_t flowContext) override {
    verifier::CurrentDriverScope scope(owner_);
    km::IrqlScope irql(kDispatchLevel);  // flowDeleteFn runs at IRQL <= DISPATCH_LEVEL
    flowDeleteFn_(layerId, calloutId, flowContext);
  }
  bool hasFlowDelete() const override { return flowDeleteFn_ != nullptr; }

 private:
  int version_;
  void* classifyFn_;
  void* notifyFn_;
  FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn_;
  std::string owner_;
};

template <typename CalloutT>
NTSTATUS registerCallout(int version, void* deviceObject, const CalloutT* callout, UINT32* calloutId) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!deviceObject || !callout || !callout->classifyFn) return STATUS_INVALID_PARAMETER;
  engine::Registration reg;
  reg.key = toGuid(callout->calloutKey);
  reg.version = version;
  reg.flags = callout->flags;
  reg.owner = verifier::currentDriver();
  reg.functions = std::make_shared<DriverCallout>(
      version, reinterpret_cast<void*>(callout->classifyFn),
      reinterpret_cast<void*>(callout->notifyFn), callout->flowDeleteFn, reg.owner);
  uint32_t id = 0;
  Status s = eng().registerCallout(std::move(reg), &id);
  if (s == Status::Success && calloutId) *calloutId = id;
  return nt(s);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

}  // namespace

extern "C" {

NTSTATUS NTAPI FwpsCalloutRegister0(void* deviceObject, const FWPS_CALLOUT0* callout,
                                    UINT32* calloutId) {
  return registerCallout(0, deviceObject, callout, calloutId);
}
NTSTATUS NTAPI FwpsCalloutRegister1(void* deviceObject, const FWPS_CALLOUT1* callout,
                                    UINT32* calloutId) {
  return registerCallout(1, deviceObject, callout, calloutId);
}
NTSTATUS NTAPI FwpsCalloutRegister2(void* deviceObject, const FWPS_CALLOUT2* callout,
                                    UINT32* calloutId) {
  return registerCallout(2, deviceObject, callout, calloutId);
}
NTSTATUS NTAPI FwpsCalloutRegister3(void* deviceObject, const FWPS_CALLOUT3* callout,
                                    UINT32* calloutId) {
  return registerCallout(3, deviceObject, callout, calloutId);
}

NTSTATUS NTAPI FwpsCalloutUnregisterById0(const UINT32 calloutId) {
  OPENWFP_KAPI_GUARD_BEGIN
  return nt(eng().unregisterCalloutById(calloutId));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpsCalloutUnregisterByKey0(const GUID* calloutKey) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!calloutKey) return STATUS_INVALID_PARAMETER;
  return nt(eng().unregisterCalloutByKey(toGuid(*calloutKey)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

}  // extern "C"
