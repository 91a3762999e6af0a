#include "engine/connect_pipeline.h"

#include "engine/diagnostics.h"
#include "engine/engine.h"
#include "redirect/history.h"
#include "redirect/records.h"

namespace openwfp::engine {
namespace {

// NL_ADDRESS_TYPE: NlatUnspecified 0, NlatUnicast 1, NlatMulticast 3, NlatBroadcast 4.
uint8_t addressType(const Endpoint& ep) {
  if (ep.isUnspecified()) return 0;
  if (ep.version == IpVersion::V4) {
    if (ep.addr[0] >= 224 && ep.addr[0] <= 239) return 3;
    if (ep.v4HostOrder() == 0xFFFFFFFFu) return 4;
    return 1;
  }
  if (ep.isV4Mapped()) return ep.addr[12] >= 224 && ep.addr[12] <= 239 ? 3 : 1;
  return ep.addr[0] == 0xFF ? 3 : 1;
}

void fillCommon(ClassifyValues& v, const ProcessInfo& p, Protocol proto) {
  v.appId = appIdFromPath(p.imagePath);
  v.userId = p.uid;
  v.protocol = static_cast<uint8_t>(proto);
}

struct ConnectState {
  ConnectRequest request;
  ConnectDone done;
  std::shared_ptr<redirect::History> history;
  uint64_t recordsHandle = 0;
};

std::string joinReasons(const std::vector<std::string>& reasons) {
  std::string s;
  for (const auto& r : reasons) {
    if (!s.empty()) s += "; ";
    s += r;
  }
  return s;
}

}  // namespace

void ConnectPipeline::classify(StackHook hook, const StackRequest& request, StackDone done) {
  switch (hook) {
    case StackHook::Connect:
      runConnect(request, std::move(done));
      return;
    case StackHook::Bind:
      runBind(request, std::move(done));
      return;
  }
  // Not reached (every hook has a case); a value outside the enum fails closed.
  StackVerdict v = permitUnchanged(request);
  v.action = Action::Block;
  v.reason = "no layers for this stack hook";
  done(v);
}

void ConnectPipeline::runConnect(const ConnectRequest& request, ConnectDone done) {
  auto st = std::make_shared<ConnectState>();
  st->request = request;
  st->done = std::move(done);
  st->history = redirect::History::create(request.proxiedRecords);
  if (engine_.services().sealer) engine_.services().sealer->track(st->history);
  engine_.trackConnection(st->history);

  ClassifyRequest cr;
  cr.layer = hookLayers(StackHook::Connect).redirect->of(request.remote.version);
  fillCommon(cr.values, request.process, request.protocol);
  cr.values.setEndpoints(request.local, request.remote);
  cr.values.localAddressType = addressType(request.local);
  cr.values.destinationAddressType = addressType(request.remote);
  if (request.remote.isLoopback()) cr.values.flags |= kFlagIsLoopback;
  if (request.proxiedRecords) cr.values.flags |= kFlagIsProxyConnection;
  cr.metadata.processId = request.process.pid;
  st->recordsHandle = engine_.recordsHandles().open(st->history);
  cr.metadata.redirectRecords = st->recordsHandle;
  cr.metadata.flowHandle = st->history->id();  // S15.4: the connection is the flow
  cr.data.local = request.local;
  cr.data.remote = request.remote;
  cr.history = st->history;
  cr.socket = request.socket;
  cr.processPath = request.process.imagePath;

  Engine& engine = engine_;
  engine_.start(std::move(cr), [&engine, st](Classify& c) {
    // S8.6: the records handle is valid while the classify runs (and while it is pended).
    engine.recordsHandles().close(st->recordsHandle);
    const ConnectRequest& req = st->request;
    ConnectVerdict verdict;
    verdict.history = st->history;
    verdict.finalRemote = req.remote;
    if (!c.permitted()) {
      verdict.action = Action::Block;
      verdict.timedOut = c.timedOut();
      verdict.blockErrno = c.blockErrno();
      verdict.reason = joinReasons(c.reasons());
      if (verdict.reason.empty()) verdict.reason = "blocked at " + std::string(c.layer().name);
      st->history->releaseContexts();
      engine.untrackConnection(st->history->id());
      engine.emitTrace(c);
      st->done(verdict);
      return;
    }
    const LayerData& fd = c.finalData();
    if (c.modified() && !(fd.remote == req.remote)) {
      const bool local = fd.remote.isLoopback();
      if (local && (fd.localRedirectTargetPid == 0 || fd.localRedirectHandle == 0)) {
        std::string missing = fd.localRedirectTargetPid == 0 && fd.localRedirectHandle == 0
                                  ? "localRedirectTargetPID and localRedirectHandle are"
                              : fd.localRedirectTargetPid == 0 ? "localRedirectTargetPID is"
                                                               : "localRedirectHandle is";
        const std::string why = "redirect to local address " + fd.remote.str() + " not applied: " +
                                missing + " not set (S5.5)";
        c.addReason(why);
        c.setFinalDestination(req.remote.str());  // where the connection really goes
        reportViolation(engine.services(), verifier::Code::RedirectNotApplied,
                        why + "; the connection goes to " + req.remote.str(), c.lastModifierFilterId());
      } else {
        verdict.finalRemote = fd.remote;
        verdict.redirected = true;
        verdict.redirectTargetPid = fd.localRedirectTargetPid;
      }
    }
    engine.emitTrace(c);

    // ALE_AUTH_CONNECT for the final tuple (S5.8).
    ClassifyRequest ar;
    ar.layer = hookLayers(StackHook::Connect).authorize->of(verdict.finalRemote.version);
    fillCommon(ar.values, req.process, req.protocol);
    ar.values.setEndpoints(req.local, verdict.finalRemote);
    ar.values.localAddressType = addressType(req.local);
    ar.values.destinationAddressType = addressType(verdict.finalRemote);
    if (verdict.finalRemote.isLoopback()) ar.values.flags |= kFlagIsLoopback;
    if (req.proxiedRecords) ar.values.flags |= kFlagIsProxyConnection;
    if (verdict.redirected) {
      ar.values.flags |= kFlagIsConnectionRedirected;
      ar.metadata.hasLocalRedirectTargetPid = true;
      ar.metadata.localRedirectTargetPid = verdict.redirectTargetPid;
      ar.metadata.originalDestination = req.remote;
    }
    ar.metadata.processId = req.process.pid;
    ar.metadata.flowHandle = st->history->id();
    ar.data.local = req.local;
    ar.data.remote = verdict.finalRemote;
    ar.history = st->history;
    ar.processPath = req.process.imagePath;
    std::string redirectReasons = joinReasons(c.reasons());
    engine.start(std::move(ar), [&engine, st, verdict, redirectReasons](Classify& a) mutable {
      if (!a.permitted()) {
        verdict.action = Action::Block;
        verdict.timedOut = a.timedOut();
        verdict.blockErrno = a.blockErrno();
        verdict.reason = joinReasons(a.reasons());
        if (verdict.reason.empty()) verdict.reason = "blocked at " + std::string(a.layer().name);
        st->history->releaseContexts();
        engine.untrackConnection(st->history->id());
      } else {
        verdict.action = Action::Permit;
        verdict.reason = redirectReasons;
      }
      engine.emitTrace(a);
      st->done(verdict);
    });
  });
}

void ConnectPipeline::runBind(const BindRequest& request, BindDone done) {
  ClassifyRequest cr;
  cr.layer = hookLayers(StackHook::Bind).redirect->of(request.local.version);
  fillCommon(cr.values, request.process, request.protocol);
  cr.values.setEndpoints(request.local, Endpoint{request.local.version, {}, 0});
  cr.values.localAddressType = addressType(request.local);
  if (request.local.isUnspecified()) cr.values.flags |= 0x00000008;  // IS_WILDCARD_BIND
  if (request.local.isLoopback()) cr.values.flags |= kFlagIsLoopback;
  cr.metadata.processId = request.process.pid;
  cr.data.local = request.local;
  cr.processPath = request.process.imagePath;
  auto req = std::make_shared<BindRequest>(request);
  auto cb = std::make_shared<BindDone>(std::move(done));
  Engine& engine = engine_;
  engine_.start(std::move(cr), [&engine, req, cb](Classify& c) {
    BindVerdict v;
    v.finalLocal = req->local;
    if (!c.permitted()) {
      v.action = Action::Block;
      v.timedOut = c.timedOut();
      v.blockErrno = c.blockErrno();
      v.reason = joinReasons(c.reasons());
      if (v.reason.empty()) v.reason = "blocked at " + std::string(c.layer().name);
    } else {
      v.action = Action::Permit;
      if (c.modified() && !(c.finalData().local == req->local)) {
        v.finalLocal = c.finalData().local;
        v.redirected = true;
      }
      v.reason = joinReasons(c.reasons());
    }
    engine.emitTrace(c);
    (*cb)(v);
  });
}

void ConnectPipeline::connectionClosed(const std::shared_ptr<redirect::History>& history) {
  if (!history) return;
  engine_.reportHandlesOfConnection(history->id());
  history->releaseContexts();  // S5.6: engine-owned contexts are freed when the flow ends
  engine_.untrackConnection(history->id());
}

}  // namespace openwfp::engine
