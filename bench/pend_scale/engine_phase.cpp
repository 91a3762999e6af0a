// bench/pend_scale/engine_phase.cpp - the engine level of bench/pend_scale: N connects classified
// through the real engine (Runtime::current().classifier(), as the Linux backend calls it) at
// ALE_CONNECT_REDIRECT_V4, where a callout driver registered with FwpsCalloutRegister3 either
//   pends every classify (FwpsAcquireClassifyHandle0 + FwpsPendClassify0, BLOCK without the write
//   right) and, once all N are held, a completer thread redirects each in a shuffled order
//   (acquire writable data, set 127.0.0.1:Q, apply, complete PERMIT, release), or
//   redirects inline (the baseline).
// Five rounds in one Runtime: times are the medians, memory is read in the first round.
// Every connection's history is kept until its round ends, as a backend keeps it for an open
// connection.
#include "common.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "openwfp/openwfp.h"
#include "openwfp/stack.h"
#include "verifier/verifier.h"

#include <fwpmk.h>
#include <fwpsk.h>

namespace pend_scale {
namespace {

constexpr UINT32 kFinalAddr = 0x7F000001;  // 127.0.0.1
constexpr UINT16 kFinalPort = 9000;
constexpr UINT32 kOrigAddr = 0x7F000002;   // 127.0.0.2
constexpr UINT16 kOrigPort = 9;

const GUID kCalloutKey = {0x5ca1e000, 0x7e57, 0x4242, {0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7}};
const GUID kProvider = {0x5ca1e001, 0x7e57, 0x4242, {0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7}};

// The driver's state: what a real driver keeps in its device extension.
struct Driver {
  bool pend = true;
  HANDLE redirectHandle = nullptr;
  UINT32 targetPid = 0;
  std::mutex mu;                 // guards pended
  std::vector<UINT64> pended;    // classify handles of pended classifies
  UINT64 filterId = 0;
  std::atomic<int> failures{0};  // a Fwps call that did not succeed
} gDriver;

void setRedirect(FWPS_CONNECT_REQUEST0* req) {
  std::memset(&req->remoteAddressAndPort, 0, sizeof req->remoteAddressAndPort);
  auto& sin = reinterpret_cast<SOCKADDR_IN&>(req->remoteAddressAndPort);
  sin.sin_family = AF_INET;
  const UINT16 port = kFinalPort;
  sin.sin_port = static_cast<USHORT>((port >> 8) | ((port & 0xFF) << 8));  // network order
  const unsigned char addr[4] = {static_cast<unsigned char>(kFinalAddr >> 24),
                                 static_cast<unsigned char>(kFinalAddr >> 16),
                                 static_cast<unsigned char>(kFinalAddr >> 8),
                                 static_cast<unsigned char>(kFinalAddr)};
  std::memcpy(&sin.sin_addr, addr, 4);
  req->localRedirectTargetPID = gDriver.targetPid;
  req->localRedirectHandle = gDriver.redirectHandle;
}

// Acquire writable data, redirect, apply. The caller completes/permits and releases.
bool redirect(UINT64 handle, UINT64 filterId, FWPS_CLASSIFY_OUT0* out) {
  void* data = nullptr;
  if (FwpsAcquireWritableLayerDataPointer0(handle, filterId, 0, &data, out) != STATUS_SUCCESS) {
    return false;
  }
  setRedirect(static_cast<FWPS_CONNECT_REQUEST0*>(data));
  FwpsApplyModifiedLayerData0(handle, data, 0);
  return true;
}

void NTAPI classifyFn(const FWPS_INCOMING_VALUES0*, const FWPS_INCOMING_METADATA_VALUES0*, void*,
                      const void* classifyContext, const FWPS_FILTER3* filter, UINT64,
                      FWPS_CLASSIFY_OUT0* out) {
  if ((out->rights & FWPS_RIGHT_ACTION_WRITE) == 0) return;
  UINT64 h = 0;
  if (FwpsAcquireClassifyHandle0(const_cast<void*>(classifyContext), 0, &h) != STATUS_SUCCESS) {
    gDriver.failures.fetch_add(1);
    return;
  }
  if (!gDriver.pend) {
    if (redirect(h, filter->filterId, out)) {
      out->actionType = FWP_ACTION_PERMIT;
    } else {
      gDriver.failures.fetch_add(1);
    }
    FwpsReleaseClassifyHandle0(h);
    return;
  }
  if (FwpsPendClassify0(h, filter->filterId, 0, out) != STATUS_SUCCESS) {
    gDriver.failures.fetch_add(1);
    FwpsReleaseClassifyHandle0(h);
    return;
  }
  {
    std::lock_guard lock(gDriver.mu);
    gDriver.pended.push_back(h);
    gDriver.filterId = filter->filterId;
  }
  out->actionType = FWP_ACTION_BLOCK;
  out->rights &= ~FWPS_RIGHT_ACTION_WRITE;
}

NTSTATUS NTAPI notifyFn(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER3*) {
  return STATUS_SUCCESS;
}

// DriverEntry's part: register the callout, add it and one filter that runs it for every
// connect at ALE_CONNECT_REDIRECT_V4.
bool loadDriver(int& deviceStorage) {
  HANDLE engine = nullptr;
  if (FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &engine) != STATUS_SUCCESS) {
    return false;
  }
  FWPS_CALLOUT3 sc{};
  sc.calloutKey = kCalloutKey;
  sc.classifyFn = classifyFn;
  sc.notifyFn = notifyFn;
  UINT32 calloutId = 0;
  bool ok = FwpsCalloutRegister3(&deviceStorage, &sc, &calloutId) == STATUS_SUCCESS;
  FWPM_CALLOUT0 mc{};
  mc.calloutKey = kCalloutKey;
  mc.displayData.name = const_cast<wchar_t*>(L"pend_scale redirect callout");
  mc.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  ok = ok && FwpmCalloutAdd0(engine, &mc, nullptr, nullptr) == STATUS_SUCCESS;
  FWPM_FILTER0 f{};
  f.displayData.name = const_cast<wchar_t*>(L"pend_scale: every connect");
  f.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  f.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  f.action.calloutKey = kCalloutKey;
  f.weight.type = FWP_EMPTY;
  ok = ok && FwpmFilterAdd0(engine, &f, nullptr, nullptr) == STATUS_SUCCESS;
  ok = ok && FwpsRedirectHandleCreate0(&kProvider, 0, &gDriver.redirectHandle) == STATUS_SUCCESS;
  FwpmEngineClose0(engine);
  return ok;
}

openwfp::ConnectRequest requestFor(int i) {
  openwfp::ConnectRequest r;
  r.process.pid = 4242;
  r.process.uid = 1000;
  r.process.imagePath = "/usr/bin/pend_scale_client";
  r.protocol = openwfp::Protocol::Tcp;
  r.local = openwfp::Endpoint::v4(kFinalAddr, static_cast<uint16_t>(20000 + i % 40000));
  r.remote = openwfp::Endpoint::v4(kOrigAddr, kOrigPort);
  r.socketId = static_cast<uint64_t>(i) + 1;
  return r;
}

// One round: n classifies (pended and then completed, or inline); the connections then end.
// Memory is read in the first round only (a clean heap). false (with a message) on a failure.
struct Round {
  double classifyMs = 0, completeMs = 0;
  Memory before, held, after;
  int ok = 0;
};

bool runRound(const char* name, bool pend, const std::vector<openwfp::ConnectRequest>& requests,
              Round& round) {
  const int n = static_cast<int>(requests.size());
  openwfp::Classifier& classifier = openwfp::Runtime::current().classifier();
  std::vector<std::shared_ptr<openwfp::redirect::History>> histories(requests.size());
  std::vector<uint8_t> redirected(requests.size(), 0);
  {
    std::lock_guard lock(gDriver.mu);
    gDriver.pended.clear();
    gDriver.pended.reserve(requests.size());
  }
  std::atomic<int> answered{0};
  std::atomic<int64_t> lastAnswerNs{0};

  round.before = readMemory();
  const int64_t t0 = nowNs();
  for (int i = 0; i < n; ++i) {
    classifier.classify(openwfp::StackHook::Connect, requests[static_cast<size_t>(i)],
                        [&, i](const openwfp::ConnectVerdict& v) {
                          histories[static_cast<size_t>(i)] = v.history;
                          redirected[static_cast<size_t>(i)] =
                              v.action == openwfp::Action::Permit && v.redirected &&
                              v.finalRemote == openwfp::Endpoint::v4(kFinalAddr, kFinalPort);
                          lastAnswerNs.store(nowNs(), std::memory_order_relaxed);
                          answered.fetch_add(1, std::memory_order_release);
                        });
  }
  const int64_t t1 = nowNs();
  round.classifyMs = msBetween(t0, t1);
  round.held = readMemory();

  if (pend) {
    std::vector<UINT64> handles;
    {
      std::lock_guard lock(gDriver.mu);
      handles = gDriver.pended;
    }
    if (handles.size() != requests.size() || answered.load() != 0) {
      std::fprintf(stderr, "pend_scale %s: %zu of %d classifies pended, %d answered inline\n", name,
                   handles.size(), n, answered.load());
      return false;
    }
    std::shuffle(handles.begin(), handles.end(), std::mt19937(20261126));
    const UINT64 filterId = gDriver.filterId;
    int64_t completeStart = 0;
    std::thread completer([&] {
      completeStart = nowNs();
      for (UINT64 h : handles) {
        FWPS_CLASSIFY_OUT0 out{};
        out.rights = FWPS_RIGHT_ACTION_WRITE;
        if (!redirect(h, filterId, &out)) gDriver.failures.fetch_add(1);
        out.actionType = FWP_ACTION_PERMIT;
        FwpsCompleteClassify0(h, 0, &out);
        FwpsReleaseClassifyHandle0(h);
      }
    });
    completer.join();
    if (answered.load(std::memory_order_acquire) != n) {
      std::fprintf(stderr, "pend_scale %s: only %d of %d pended classifies were answered\n", name,
                   answered.load(), n);
      return false;
    }
    round.completeMs = msBetween(completeStart, lastAnswerNs.load());
  } else if (answered.load() != n) {
    std::fprintf(stderr, "pend_scale %s: %d of %d classifies answered inline\n", name,
                 answered.load(), n);
    return false;
  }
  round.after = readMemory();
  round.ok = static_cast<int>(std::count(redirected.begin(), redirected.end(), 1));
  // The connections end: the engine releases their per-flow state.
  for (auto& h : histories) {
    if (h) classifier.connectionClosed(h);
  }
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int runEnginePhase(bool pend, int n) {
  const char* name = pend ? "engine/pended" : "engine/inline";
  constexpr int kRounds = 5;  // times: the median of the rounds; memory: the first round
  openwfp::RuntimeOptions options;  // defaults (verifier on, 30 s pend deadline) ...
  options.trace = false;            // ... but no trace sink: measure the engine
  openwfp::Runtime::reset(options);
  gDriver.pend = pend;
  gDriver.targetPid = static_cast<UINT32>(::getpid());
  int device = 0;
  if (!loadDriver(device)) {
    std::fprintf(stderr, "pend_scale %s: loading the callout driver failed\n", name);
    return 1;
  }
  std::vector<openwfp::ConnectRequest> requests;
  requests.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) requests.push_back(requestFor(i));
  {  // warm-up: one classify, answered inline, not counted
    gDriver.pend = false;
    openwfp::Classifier& classifier = openwfp::Runtime::current().classifier();
    std::shared_ptr<openwfp::redirect::History> warm;
    classifier.classify(openwfp::StackHook::Connect, requestFor(n),
                        [&](const openwfp::ConnectVerdict& v) { warm = v.history; });
    if (warm) classifier.connectionClosed(warm);
    gDriver.pend = pend;
  }

  Figures fig;
  fig["n"] = n;
  std::vector<double> classifyMs, completeMs;
  int ok = n;
  for (int r = 0; r < kRounds; ++r) {
    Round round;
    if (!runRound(name, pend, requests, round)) return 1;
    classifyMs.push_back(round.classifyMs);
    completeMs.push_back(round.completeMs);
    ok = std::min(ok, round.ok);
    if (r == 0) {
      fig["before_rss_kb"] = round.before.rssKb;
      fig["after_rss_kb"] = round.after.rssKb;
      fig["hwm_kb"] = round.after.hwmKb;
      if (pend) {
        fig["held_rss_kb"] = round.held.rssKb;
        fig["bytes_per_item"] = bytesPer(round.before, round.held, n);
      } else {
        fig["bytes_per_item"] = bytesPer(round.before, round.after, n);
      }
    }
    if (pend) {
      std::fprintf(stderr, "pend_scale %s: round %d/%d: %d classifies pended in %.1f ms, completed "
                   "in shuffled order in %.1f ms (VmRSS %.1f MiB at the start)\n", name, r + 1,
                   kRounds, n, round.classifyMs, round.completeMs, round.before.rssKb / 1024.0);
    }
  }
  fig["classify_ms"] = median(classifyMs);
  if (pend) fig["complete_ms"] = median(completeMs);
  fig["rounds"] = kRounds;
  fig["ok"] = ok;
  fig["failures"] = gDriver.failures.load();
  fig["violations"] = static_cast<double>(openwfp::Runtime::current().verifier().violations().size());
  FwpsRedirectHandleDestroy0(gDriver.redirectHandle);
  printResult(fig);
  if (ok != n || gDriver.failures.load() != 0) {
    std::fprintf(stderr, "pend_scale %s: %d of %d classifies redirected, %d driver calls failed\n",
                 name, ok, n, gDriver.failures.load());
    return 1;
  }
  return 0;
}

}  // namespace pend_scale
