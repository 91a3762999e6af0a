// tests/support/wfp_harness.h - a fake in-test callout driver harness for the engine and C ABI
// tests (S2..S8): a fixture that resets the Runtime, opens an engine session, registers
// scripted callouts through FwpsCalloutRegister0..3, builds FWPM_FILTER0s and drives classifies
// through Runtime::current().classifier().
//
// The registered classifyFn/notifyFn are plain C functions (no lambdas cross the ABI); what they
// do is static state: a per-callout-id script set by the test.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "openwfp/openwfp.h"
#include "openwfp/stack.h"
#include "openwfp/trace.h"
#include "verifier/verifier.h"

#include <fwpmk.h>
#include <fwpsk.h>
#include <wdm.h>

namespace wfptest {

using openwfp::ConnectRequest;
using openwfp::ConnectVerdict;
using openwfp::Endpoint;

inline GUID guid(uint32_t n, uint16_t tag = 0x7e57) {
  GUID g{};
  g.Data1 = n;
  g.Data2 = tag;
  g.Data3 = 0x4242;
  for (int i = 0; i < 8; ++i) g.Data4[i] = static_cast<unsigned char>(0xA0 + i);
  return g;
}

inline bool sameGuid(const GUID& a, const GUID& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

inline openwfp::engine::Guid toEngineGuid(const GUID& g) {
  openwfp::engine::Guid out;
  std::memcpy(out.bytes.data(), &g, 16);
  return out;
}

// A classifyFn body: what the test wants the callout to do.
using ClassifyBody =
    std::function<void(const FWPS_INCOMING_VALUES0*, const FWPS_INCOMING_METADATA_VALUES0*,
                       const void* classifyContext, const FWPS_FILTER3*, FWPS_CLASSIFY_OUT0*)>;
using NotifyBody = std::function<NTSTATUS(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER3*)>;

// A flowDeleteFn call (S15.4).
struct FlowDeleted {
  UINT16 layerId = 0;
  UINT32 calloutId = 0;
  UINT64 flowContext = 0;
};

struct Script {
  ClassifyBody classify;
  NotifyBody notify;
  std::atomic<int> calls{0};
  std::atomic<int> notifies{0};
  std::mutex flowMu;  // guards flowDeletes
  std::vector<FlowDeleted> flowDeletes;
  std::vector<FlowDeleted> flowDeleted() {
    std::lock_guard lock(flowMu);
    return flowDeletes;
  }
};

// Static state of the scripted callouts, keyed by run-time callout id.
struct Scripts {
  std::mutex mu;
  std::map<UINT32, std::shared_ptr<Script>> byId;
  std::shared_ptr<Script> find(UINT32 id) {
    std::lock_guard lock(mu);
    auto it = byId.find(id);
    return it == byId.end() ? nullptr : it->second;
  }
  static Scripts& get() {
    static Scripts s;
    return s;
  }
};

void NTAPI scriptedClassify0(const FWPS_INCOMING_VALUES0*, const FWPS_INCOMING_METADATA_VALUES0*,
                             void*, const FWPS_FILTER0*, UINT64, FWPS_CLASSIFY_OUT0*);
void NTAPI scriptedClassify1(const FWPS_INCOMING_VALUES0*, const FWPS_INCOMING_METADATA_VALUES0*,
                             void*, const void*, const FWPS_FILTER1*, UINT64, FWPS_CLASSIFY_OUT0*);
void NTAPI scriptedClassify3(const FWPS_INCOMING_VALUES0*, const FWPS_INCOMING_METADATA_VALUES0*,
                             void*, const void*, const FWPS_FILTER3*, UINT64, FWPS_CLASSIFY_OUT0*);
void NTAPI scriptedFlowDelete(UINT16 layerId, UINT32 calloutId, UINT64 flowContext);
NTSTATUS NTAPI scriptedNotify0(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER0*);
NTSTATUS NTAPI scriptedNotify1(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER1*);
NTSTATUS NTAPI scriptedNotify3(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER3*);

// ---- redirect helpers (S5) -------------------------------------------------------------------

inline void setV4(SOCKADDR_STORAGE& ss, UINT32 hostOrder, UINT16 port) {
  std::memset(&ss, 0, sizeof ss);
  auto& sin = reinterpret_cast<SOCKADDR_IN&>(ss);
  sin.sin_family = 2;  // AF_INET (Windows value)
  sin.sin_port = static_cast<USHORT>((port >> 8) | ((port & 0xFF) << 8));
  UINT32 be = ((hostOrder & 0xFF) << 24) | ((hostOrder & 0xFF00) << 8) | ((hostOrder >> 8) & 0xFF00) |
              (hostOrder >> 24);
  std::memcpy(&sin.sin_addr, &be, 4);
}

inline UINT32 v4Of(const SOCKADDR_STORAGE& ss) {
  const auto& sin = reinterpret_cast<const SOCKADDR_IN&>(ss);
  UINT32 be;
  std::memcpy(&be, &sin.sin_addr, 4);
  return ((be & 0xFF) << 24) | ((be & 0xFF00) << 8) | ((be >> 8) & 0xFF00) | (be >> 24);
}

inline UINT16 portOf(const SOCKADDR_STORAGE& ss) {
  USHORT p = reinterpret_cast<const SOCKADDR_IN&>(ss).sin_port;
  return static_cast<UINT16>((p >> 8) | ((p & 0xFF) << 8));
}

struct Redirect {
  UINT32 dst = 0x7F000001;
  UINT16 port = 9000;
  DWORD targetPid = 0;
  HANDLE handle = nullptr;
  void* context = nullptr;
  SIZE_T contextSize = 0;
  UINT32 applyFlags = 0;
};

// Inline redirect from a classifyFn: acquire handle, acquire writable data, modify, apply,
// release, PERMIT. Returns the acquire status.
inline NTSTATUS redirectInline(const void* classifyContext, const FWPS_FILTER3* filter,
                               FWPS_CLASSIFY_OUT0* out, const Redirect& r) {
  UINT64 h = 0;
  NTSTATUS st = FwpsAcquireClassifyHandle0(const_cast<void*>(classifyContext), 0, &h);
  if (st != STATUS_SUCCESS) return st;
  void* data = nullptr;
  st = FwpsAcquireWritableLayerDataPointer0(h, filter->filterId, 0, &data, out);
  if (st == STATUS_SUCCESS) {
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    setV4(req->remoteAddressAndPort, r.dst, r.port);
    req->localRedirectTargetPID = r.targetPid;
    req->localRedirectHandle = r.handle;
    req->localRedirectContext = r.context;
    req->localRedirectContextSize = r.contextSize;
    FwpsApplyModifiedLayerData0(h, data, r.applyFlags);
    out->actionType = FWP_ACTION_PERMIT;
  }
  FwpsReleaseClassifyHandle0(h);
  return st;
}

inline HANDLE newRedirectHandle() {
  GUID provider = {0x1234, 0x5678, 0x9abc, {1, 2, 3, 4, 5, 6, 7, 8}};
  HANDLE h = nullptr;
  EXPECT_EQ(FwpsRedirectHandleCreate0(&provider, 0, &h), STATUS_SUCCESS);
  return h;
}

// Builds an FWPM_FILTER0 and owns everything it points to.
class FilterBuilder {
 public:
  explicit FilterBuilder(const GUID& layer);
  FilterBuilder& key(const GUID& k);
  FilterBuilder& name(const wchar_t* n);
  FilterBuilder& noName();
  FilterBuilder& subLayer(const GUID& s);
  FilterBuilder& flags(UINT32 f);
  FilterBuilder& weight64(UINT64 w);
  FilterBuilder& weight8(UINT8 w);
  FilterBuilder& weightType(FWP_DATA_TYPE t, UINT32 value = 0);
  FilterBuilder& action(FWP_ACTION_TYPE type);
  FilterBuilder& callout(FWP_ACTION_TYPE type, const GUID& calloutKey);
  FilterBuilder& rawContext(UINT64 c);
  FilterBuilder& provider(const GUID& p);
  // Conditions.
  FilterBuilder& remoteV4(UINT32 hostOrder, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& remoteV4Mask(UINT32 hostOrder, UINT32 mask, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& localV4(UINT32 hostOrder, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& remoteV6(const std::array<uint8_t, 16>& a, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& remoteV6Prefix(const std::array<uint8_t, 16>& a, UINT8 prefix,
                                FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& remotePort(UINT16 p, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& remotePortRange(UINT16 lo, UINT16 hi);
  FilterBuilder& localPort(UINT16 p, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& protocol(UINT8 p, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& flagsCondition(UINT32 f, FWP_MATCH_TYPE m);
  FilterBuilder& userId(UINT32 uid, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& appId(const wchar_t* path, FWP_MATCH_TYPE m = FWP_MATCH_EQUAL);
  FilterBuilder& raw(const GUID& field, FWP_MATCH_TYPE m, const FWP_CONDITION_VALUE0& v);
  FWPM_FILTER0* get();

 private:
  template <typename T>
  T* keep(const T& v) {
    auto p = std::make_shared<T>(v);
    keep_.push_back(p);
    return p.get();
  }
  FWPM_FILTER0 f_{};
  std::vector<FWPM_FILTER_CONDITION0> conds_;
  std::vector<std::shared_ptr<void>> keep_;
  std::wstring name_ = L"test filter";
  bool hasName_ = true;
  UINT64 weight64_ = 0;
  GUID provider_{};
};

// Collects the verdict of an asynchronous classify.
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<ConnectVerdict> verdict;
  std::optional<openwfp::BindVerdict> bind;
  int calls = 0;
  bool wait(std::chrono::milliseconds t = std::chrono::seconds(10)) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, t, [&] { return verdict.has_value() || bind.has_value(); });
  }
  openwfp::ConnectDone callback() {
    return [this](const ConnectVerdict& v) {
      std::lock_guard lock(mu);
      ++calls;
      verdict = v;
      cv.notify_all();
    };
  }
  openwfp::BindDone bindCallback() {
    return [this](const openwfp::BindVerdict& v) {
      std::lock_guard lock(mu);
      ++calls;
      bind = v;
      cv.notify_all();
    };
  }
};

class Harness : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual openwfp::RuntimeOptions options() { return {}; }

  openwfp::Runtime& rt() { return openwfp::Runtime::current(); }
  openwfp::engine::Engine& engine() { return rt().engine(); }

  void addSubLayer(const GUID& key, UINT16 weight);
  void addCallout(const GUID& key, const GUID& layer);
  // FwpsCalloutRegisterN (N = 0, 1 or 3) with the scripted functions; returns the callout id.
  UINT32 registerCallout(const GUID& key, ClassifyBody body, int version = 3,
                         NotifyBody notify = nullptr);
  std::shared_ptr<Script> script(UINT32 calloutId) { return Scripts::get().find(calloutId); }
  UINT64 addFilter(FilterBuilder& b);
  // FwpsCalloutRegister3 + FwpmCalloutAdd0 + one callout filter (in `sub`, or the default
  // sublayer; weight -1 = automatic).
  struct CalloutFilter {
    UINT32 calloutId = 0;
    UINT64 filterId = 0;
  };
  CalloutFilter addCalloutFilter(const GUID& key, const GUID& layer, ClassifyBody body,
                                 const GUID* sub = nullptr,
                                 FWP_ACTION_TYPE type = FWP_ACTION_CALLOUT_TERMINATING,
                                 int weight = -1, UINT32 flags = 0);

  static ConnectRequest request(UINT32 dstHostOrder, UINT16 port, bool udp = false);
  static ConnectRequest request6(const std::array<uint8_t, 16>& dst, UINT16 port);
  ConnectVerdict connect(const ConnectRequest& r);  // must finish synchronously
  openwfp::BindVerdict bind(const openwfp::BindRequest& r);

  // Verifier: violations of `code` since the last take(); the fixture fails the test on any
  // violation not taken.
  size_t take(openwfp::verifier::Code code);
  std::vector<openwfp::trace::ClassifyRecord> traces() { return rt().tracer().recent(); }

  HANDLE engineHandle = nullptr;
  void* device = &deviceStorage_;

 public:
  // For helpers outside the fixture class.
  CalloutFilter addCalloutFilterPublic(const GUID& key, const GUID& layer, ClassifyBody body) {
    return addCalloutFilter(key, layer, std::move(body));
  }
  ConnectVerdict connectPublic(const ConnectRequest& r) { return connect(r); }
  static ConnectRequest requestPublic(UINT32 dst, UINT16 port) { return request(dst, port); }
  static ConnectRequest request6Public(const std::array<uint8_t, 16>& dst, UINT16 port) {
    return request6(dst, port);
  }

 private:
  int deviceStorage_ = 0;
  std::map<openwfp::verifier::Code, size_t> taken_;
};

// ---- implementation (header-only: tests/*.cpp are the only globbed test sources) --------------

inline std::shared_ptr<Script> scriptFor(UINT32 calloutId) { return Scripts::get().find(calloutId); }

inline void runScript(const FWPS_INCOMING_VALUES0* v, const FWPS_INCOMING_METADATA_VALUES0* m,
                      const void* ctx, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
  auto s = scriptFor(f->action.calloutId);
  if (!s) return;
  ++s->calls;
  if (s->classify) s->classify(v, m, ctx, f, out);
}

inline void NTAPI scriptedClassify0(const FWPS_INCOMING_VALUES0* v,
                                    const FWPS_INCOMING_METADATA_VALUES0* m, void*,
                                    const FWPS_FILTER0* f, UINT64, FWPS_CLASSIFY_OUT0* out) {
  runScript(v, m, nullptr, reinterpret_cast<const FWPS_FILTER3*>(f), out);
}
inline void NTAPI scriptedClassify1(const FWPS_INCOMING_VALUES0* v,
                                    const FWPS_INCOMING_METADATA_VALUES0* m, void*,
                                    const void* ctx, const FWPS_FILTER1* f, UINT64,
                                    FWPS_CLASSIFY_OUT0* out) {
  runScript(v, m, ctx, reinterpret_cast<const FWPS_FILTER3*>(f), out);
}
inline void NTAPI scriptedClassify3(const FWPS_INCOMING_VALUES0* v,
                                    const FWPS_INCOMING_METADATA_VALUES0* m, void*,
                                    const void* ctx, const FWPS_FILTER3* f, UINT64,
                                    FWPS_CLASSIFY_OUT0* out) {
  runScript(v, m, ctx, f, out);
}
inline NTSTATUS runNotify(FWPS_CALLOUT_NOTIFY_TYPE t, const GUID* key, FWPS_FILTER3* f) {
  auto s = scriptFor(f->action.calloutId);
  if (!s) return STATUS_SUCCESS;
  ++s->notifies;
  return s->notify ? s->notify(t, key, f) : STATUS_SUCCESS;
}
inline void NTAPI scriptedFlowDelete(UINT16 layerId, UINT32 calloutId, UINT64 flowContext) {
  auto s = scriptFor(calloutId);
  if (!s) return;
  std::lock_guard lock(s->flowMu);
  s->flowDeletes.push_back({layerId, calloutId, flowContext});
}
inline NTSTATUS NTAPI scriptedNotify0(FWPS_CALLOUT_NOTIFY_TYPE t, const GUID* k, FWPS_FILTER0* f) {
  return runNotify(t, k, reinterpret_cast<FWPS_FILTER3*>(f));
}
inline NTSTATUS NTAPI scriptedNotify1(FWPS_CALLOUT_NOTIFY_TYPE t, const GUID* k, FWPS_FILTER1* f) {
  return runNotify(t, k, reinterpret_cast<FWPS_FILTER3*>(f));
}
inline NTSTATUS NTAPI scriptedNotify3(FWPS_CALLOUT_NOTIFY_TYPE t, const GUID* k, FWPS_FILTER3* f) {
  return runNotify(t, k, f);
}

inline FilterBuilder::FilterBuilder(const GUID& layer) {
  f_.layerKey = layer;
  f_.action.type = FWP_ACTION_PERMIT;
  f_.weight.type = FWP_EMPTY;
}
inline FilterBuilder& FilterBuilder::key(const GUID& k) {
  f_.filterKey = k;
  return *this;
}
inline FilterBuilder& FilterBuilder::name(const wchar_t* n) {
  name_ = n;
  hasName_ = true;
  return *this;
}
inline FilterBuilder& FilterBuilder::noName() {
  hasName_ = false;
  return *this;
}
inline FilterBuilder& FilterBuilder::subLayer(const GUID& s) {
  f_.subLayerKey = s;
  return *this;
}
inline FilterBuilder& FilterBuilder::flags(UINT32 fl) {
  f_.flags = fl;
  return *this;
}
inline FilterBuilder& FilterBuilder::weight64(UINT64 w) {
  weight64_ = w;
  f_.weight.type = FWP_UINT64;
  return *this;
}
inline FilterBuilder& FilterBuilder::weight8(UINT8 w) {
  f_.weight.type = FWP_UINT8;
  f_.weight.uint8 = w;
  return *this;
}
inline FilterBuilder& FilterBuilder::weightType(FWP_DATA_TYPE t, UINT32 value) {
  f_.weight.type = t;
  f_.weight.uint32 = value;
  return *this;
}
inline FilterBuilder& FilterBuilder::action(FWP_ACTION_TYPE type) {
  f_.action.type = type;
  return *this;
}
inline FilterBuilder& FilterBuilder::callout(FWP_ACTION_TYPE type, const GUID& calloutKey) {
  f_.action.type = type;
  f_.action.calloutKey = calloutKey;
  return *this;
}
inline FilterBuilder& FilterBuilder::rawContext(UINT64 c) {
  f_.rawContext = c;
  return *this;
}
inline FilterBuilder& FilterBuilder::provider(const GUID& p) {
  provider_ = p;
  f_.providerKey = &provider_;
  return *this;
}
inline FilterBuilder& FilterBuilder::raw(const GUID& field, FWP_MATCH_TYPE m,
                                         const FWP_CONDITION_VALUE0& v) {
  FWPM_FILTER_CONDITION0 c{};
  c.fieldKey = field;
  c.matchType = m;
  c.conditionValue = v;
  conds_.push_back(c);
  return *this;
}
inline FilterBuilder& FilterBuilder::remoteV4(UINT32 a, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT32;
  v.uint32 = a;
  return raw(FWPM_CONDITION_IP_REMOTE_ADDRESS, m, v);
}
inline FilterBuilder& FilterBuilder::remoteV4Mask(UINT32 a, UINT32 mask, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_V4_ADDR_MASK;
  FWP_V4_ADDR_AND_MASK am{};
  am.addr = a;
  am.mask = mask;
  v.v4AddrMask = keep(am);
  return raw(FWPM_CONDITION_IP_REMOTE_ADDRESS, m, v);
}
inline FilterBuilder& FilterBuilder::localV4(UINT32 a, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT32;
  v.uint32 = a;
  return raw(FWPM_CONDITION_IP_LOCAL_ADDRESS, m, v);
}
inline FilterBuilder& FilterBuilder::remoteV6(const std::array<uint8_t, 16>& a, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_BYTE_ARRAY16_TYPE;
  FWP_BYTE_ARRAY16 b{};
  std::memcpy(b.byteArray16, a.data(), 16);
  v.byteArray16 = keep(b);
  return raw(FWPM_CONDITION_IP_REMOTE_ADDRESS, m, v);
}
inline FilterBuilder& FilterBuilder::remoteV6Prefix(const std::array<uint8_t, 16>& a, UINT8 prefix,
                                                    FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_V6_ADDR_MASK;
  FWP_V6_ADDR_AND_MASK am{};
  std::memcpy(am.addr, a.data(), 16);
  am.prefixLength = prefix;
  v.v6AddrMask = keep(am);
  return raw(FWPM_CONDITION_IP_REMOTE_ADDRESS, m, v);
}
inline FilterBuilder& FilterBuilder::remotePort(UINT16 p, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT16;
  v.uint16 = p;
  return raw(FWPM_CONDITION_IP_REMOTE_PORT, m, v);
}
inline FilterBuilder& FilterBuilder::remotePortRange(UINT16 lo, UINT16 hi) {
  FWP_RANGE0 r{};
  r.valueLow.type = FWP_UINT16;
  r.valueLow.uint16 = lo;
  r.valueHigh.type = FWP_UINT16;
  r.valueHigh.uint16 = hi;
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_RANGE_TYPE;
  v.rangeValue = keep(r);
  return raw(FWPM_CONDITION_IP_REMOTE_PORT, FWP_MATCH_RANGE, v);
}
inline FilterBuilder& FilterBuilder::localPort(UINT16 p, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT16;
  v.uint16 = p;
  return raw(FWPM_CONDITION_IP_LOCAL_PORT, m, v);
}
inline FilterBuilder& FilterBuilder::protocol(UINT8 p, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT8;
  v.uint8 = p;
  return raw(FWPM_CONDITION_IP_PROTOCOL, m, v);
}
inline FilterBuilder& FilterBuilder::flagsCondition(UINT32 fl, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT32;
  v.uint32 = fl;
  return raw(FWPM_CONDITION_FLAGS, m, v);
}
inline FilterBuilder& FilterBuilder::userId(UINT32 uid, FWP_MATCH_TYPE m) {
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT32;
  v.uint32 = uid;
  return raw(FWPM_CONDITION_ALE_USER_ID, m, v);
}
inline FilterBuilder& FilterBuilder::appId(const wchar_t* path, FWP_MATCH_TYPE m) {
  FWP_BYTE_BLOB* blob = nullptr;
  EXPECT_EQ(FwpmGetAppIdFromFileName0(path, &blob), STATUS_SUCCESS);
  auto bytes = std::make_shared<std::vector<UINT8>>(blob->data, blob->data + blob->size);
  keep_.push_back(bytes);
  FwpmFreeMemory0(reinterpret_cast<void**>(&blob));
  FWP_BYTE_BLOB b{};
  b.size = static_cast<UINT32>(bytes->size());
  b.data = bytes->data();
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_BYTE_BLOB_TYPE;
  v.byteBlob = keep(b);
  return raw(FWPM_CONDITION_ALE_APP_ID, m, v);
}
inline FWPM_FILTER0* FilterBuilder::get() {
  f_.displayData.name = hasName_ ? name_.data() : nullptr;
  if (f_.weight.type == FWP_UINT64) f_.weight.uint64 = &weight64_;
  f_.numFilterConditions = static_cast<UINT32>(conds_.size());
  f_.filterCondition = conds_.empty() ? nullptr : conds_.data();
  return &f_;
}

inline void Harness::SetUp() {
  openwfp::Runtime::reset(options());
  {
    std::lock_guard lock(Scripts::get().mu);
    Scripts::get().byId.clear();
  }
  ASSERT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &engineHandle),
            STATUS_SUCCESS);
}

inline void Harness::TearDown() {
  if (engineHandle) FwpmEngineClose0(engineHandle);
  auto left = taken_;
  for (const auto& v : rt().verifier().violations()) {
    if (left[v.code] > 0) {
      --left[v.code];
      continue;
    }
    ADD_FAILURE() << "unexpected verifier violation " << openwfp::verifier::toString(v.code)
                  << ": " << v.message;
  }
  openwfp::Runtime::reset();
  {
    std::lock_guard lock(Scripts::get().mu);
    Scripts::get().byId.clear();
  }
}

inline size_t Harness::take(openwfp::verifier::Code code) {
  size_t all = rt().verifier().count(code);
  size_t fresh = all - taken_[code];
  taken_[code] = all;
  return fresh;
}

inline void Harness::addSubLayer(const GUID& key, UINT16 weight) {
  FWPM_SUBLAYER0 s{};
  s.subLayerKey = key;
  s.displayData.name = const_cast<wchar_t*>(L"test sublayer");
  s.weight = weight;
  ASSERT_EQ(FwpmSubLayerAdd0(engineHandle, &s, nullptr), STATUS_SUCCESS);
}

inline void Harness::addCallout(const GUID& key, const GUID& layer) {
  FWPM_CALLOUT0 c{};
  c.calloutKey = key;
  c.displayData.name = const_cast<wchar_t*>(L"test callout");
  c.applicableLayer = layer;
  ASSERT_EQ(FwpmCalloutAdd0(engineHandle, &c, nullptr, nullptr), STATUS_SUCCESS);
}

inline UINT32 Harness::registerCallout(const GUID& key, ClassifyBody body, int version,
                                       NotifyBody notify) {
  auto s = std::make_shared<Script>();
  s->classify = std::move(body);
  s->notify = std::move(notify);
  UINT32 id = 0;
  NTSTATUS st = STATUS_UNSUCCESSFUL;
  if (version == 0) {
    FWPS_CALLOUT0 c{};
    c.calloutKey = key;
    c.classifyFn = scriptedClassify0;
    c.notifyFn = scriptedNotify0;
    c.flowDeleteFn = scriptedFlowDelete;
    st = FwpsCalloutRegister0(device, &c, &id);
  } else if (version == 1) {
    FWPS_CALLOUT1 c{};
    c.calloutKey = key;
    c.classifyFn = scriptedClassify1;
    c.notifyFn = scriptedNotify1;
    c.flowDeleteFn = scriptedFlowDelete;
    st = FwpsCalloutRegister1(device, &c, &id);
  } else {
    FWPS_CALLOUT3 c{};
    c.calloutKey = key;
    c.classifyFn = scriptedClassify3;
    c.notifyFn = scriptedNotify3;
    c.flowDeleteFn = scriptedFlowDelete;
    st = FwpsCalloutRegister3(device, &c, &id);
  }
  EXPECT_EQ(st, STATUS_SUCCESS);
  std::lock_guard lock(Scripts::get().mu);
  Scripts::get().byId[id] = s;
  return id;
}

inline UINT64 Harness::addFilter(FilterBuilder& b) {
  UINT64 id = 0;
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, b.get(), nullptr, &id), STATUS_SUCCESS);
  return id;
}

inline Harness::CalloutFilter Harness::addCalloutFilter(const GUID& key, const GUID& layer,
                                                        ClassifyBody body, const GUID* sub,
                                                        FWP_ACTION_TYPE type, int weight,
                                                        UINT32 flags) {
  CalloutFilter cf;
  cf.calloutId = registerCallout(key, std::move(body));
  addCallout(key, layer);
  FilterBuilder b(layer);
  b.callout(type, key).flags(flags);
  if (sub) b.subLayer(*sub);
  if (weight >= 0) b.weight64(static_cast<UINT64>(weight));
  cf.filterId = addFilter(b);
  return cf;
}

inline ConnectRequest Harness::request(UINT32 dst, UINT16 port, bool udp) {
  ConnectRequest r;
  r.process.pid = 4242;
  r.process.uid = 1000;
  r.process.imagePath = "/usr/bin/curl";
  r.protocol = udp ? openwfp::Protocol::Udp : openwfp::Protocol::Tcp;
  r.local = Endpoint::v4(0x7F000001, 40000);
  r.remote = Endpoint::v4(dst, port);
  r.socketId = 1;
  return r;
}

inline ConnectRequest Harness::request6(const std::array<uint8_t, 16>& dst, UINT16 port) {
  ConnectRequest r = request(0, port);
  std::array<uint8_t, 16> lo{};
  lo[15] = 1;
  r.local = Endpoint::v6(lo, 40000);
  r.remote = Endpoint::v6(dst, port);
  return r;
}

inline ConnectVerdict Harness::connect(const ConnectRequest& r) {
  Pending p;
  rt().classifier().classify(openwfp::StackHook::Connect, r, p.callback());
  EXPECT_EQ(p.calls, 1) << "classify did not complete synchronously";
  return p.verdict.value_or(ConnectVerdict{});
}

inline openwfp::BindVerdict Harness::bind(const openwfp::BindRequest& r) {
  Pending p;
  rt().classifier().classify(openwfp::StackHook::Bind, r, p.bindCallback());
  EXPECT_EQ(p.calls, 1) << "bind classify did not complete synchronously";
  return p.bind.value_or(openwfp::BindVerdict{});
}

}  // namespace wfptest
