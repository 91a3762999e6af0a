// um/management_service.cpp - dispatch of the management calls (protocol.h) to the in-process
// Fwpm* functions of fwpmk.h; sessions per connection; authorization (SPEC S14.4-S14.6).
#include "um/management_service.h"

#include <cstdlib>

#include "um/codec.h"
#include "um/server_state.h"

namespace openwfp::um {

namespace {

using control::ServiceResult;

ServiceResult status(NTSTATUS st) { return ServiceResult{st, {}}; }

// A request the codec cannot read, or a decode that ran out of memory.
ServiceResult malformed(bool oom = false) {
  return status(oom ? STATUS_INSUFFICIENT_RESOURCES : STATUS_INVALID_PARAMETER);
}

template <typename T>
struct Freed {  // a decoded block, freed at scope end
  T* p = nullptr;
  ~Freed() { std::free(p); }
};

template <typename T>
ServiceResult reply(NTSTATUS st, T* object) {
  ServiceResult out{st, {}};
  if (st == STATUS_SUCCESS && object) {
    Writer w;
    encode(w, *object);
    out.payload = std::move(w.bytes());
  }
  if (object) FwpmFreeMemory0(reinterpret_cast<void**>(&object));
  return out;
}

ServiceResult replyU64(NTSTATUS st, uint64_t v) {
  ServiceResult out{st, {}};
  if (st == STATUS_SUCCESS) {
    Writer w;
    w.u64(v);
    out.payload = std::move(w.bytes());
  }
  return out;
}

bool isNull(const GUID& g) {
  static const GUID zero{};
  return std::memcmp(&g, &zero, sizeof g) == 0;
}

}  // namespace

ManagementService::ManagementService(ManagementOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ManagementService::~ManagementService() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, c] : impl_->connections) ids.push_back(id);
  }
  for (uint64_t id : ids) connectionClosed(id);
}

std::optional<std::string> ManagementService::restore() { return impl_->restore(); }
std::string ManagementService::statePath() const { return impl_->statePath(); }

control::ServiceResult ManagementService::handle(control::ServiceRequest& request) {
  // S14.6: the engine's uid and root only, FwpmEngineOpen0 included.
  if (request.uid != impl_->options.engineUid && request.uid != 0) return status(STATUS_ACCESS_DENIED);
  if (request.service != control::kServiceManagement) return status(STATUS_INVALID_PARAMETER);
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(impl_->mu);
    auto& slot = impl_->connections[request.connection];
    if (!slot) slot = std::make_shared<Connection>();
    c = slot;
  }
  std::lock_guard lock(c->mu);
  Reader r(request.payload);
  try {
    return impl_->dispatch(*c, static_cast<Op>(request.op), r);
  } catch (const std::bad_alloc&) {
    return status(STATUS_INSUFFICIENT_RESOURCES);
  }
}

void ManagementService::connectionClosed(uint64_t connection) {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->connections.find(connection);
    if (it == impl_->connections.end()) return;
    c = it->second;
    impl_->connections.erase(it);
  }
  std::lock_guard lock(c->mu);
  for (auto& [handle, s] : c->sessions) impl_->closeSession(handle, s);
  c->sessions.clear();
}

void ManagementService::Impl::closeSession(uint64_t handle, SessionState& s) {
  // FwpmEngineClose0 aborts an open transaction, drops the session's enumeration handles and
  // deletes a dynamic session's objects; the pending persistent changes go with the abort.
  s.pending.clear();
  s.enums.clear();
  FwpmEngineClose0(asHandle(handle));
}

control::ServiceResult ManagementService::Impl::dispatch(Connection& c, Op op, Reader& r) {
  bool oom = false;
  if (op == Op::EngineOpen) {
    UINT32 authnService = r.u32();
    Freed<FWPM_SESSION0> session;
    if (r.u8()) {
      session.p = decodeObject<FWPM_SESSION0>(r.rest(), &oom);
      if (!session.p) return malformed(oom);
    }
    if (!r.ok() || !r.atEnd()) return malformed();
    // serverName: the client refuses anything but NULL (the local engine is the only server).
    HANDLE h = nullptr;
    NTSTATUS st = FwpmEngineOpen0(nullptr, authnService, nullptr, session.p, &h);
    if (st != STATUS_SUCCESS) return status(st);
    SessionState& s = c.sessions[handleBits(h)];
    s.dynamic = session.p && (session.p->flags & FWPM_SESSION_FLAG_DYNAMIC);
    return replyU64(STATUS_SUCCESS, handleBits(h));
  }

  uint64_t handle = r.u64();
  if (!r.ok()) return malformed();
  auto it = c.sessions.find(handle);
  if (it == c.sessions.end()) return status(STATUS_INVALID_HANDLE);
  SessionState& s = it->second;
  HANDLE local = asHandle(handle);
  // Objects a non-dynamic session adds with their persistent flag go to the state file.
  auto persists = [&](UINT32 flags, UINT32 flag) { return !s.dynamic && (flags & flag); };

  switch (op) {
    case Op::EngineClose:
      closeSession(handle, s);
      c.sessions.erase(it);
      return status(STATUS_SUCCESS);
    case Op::TransactionBegin: {
      UINT32 flags = r.u32();
      if (!r.ok() || !r.atEnd()) return malformed();
      NTSTATUS st = FwpmTransactionBegin0(local, flags);
      if (st == STATUS_SUCCESS) {
        s.inTransaction = true;
        s.pending.clear();
      }
      return status(st);
    }
    case Op::TransactionCommit: {
      NTSTATUS st = FwpmTransactionCommit0(local);
      if (st == STATUS_SUCCESS && s.inTransaction) commit(s);
      s.inTransaction = false;
      s.pending.clear();
      return status(st);
    }
    case Op::TransactionAbort: {
      NTSTATUS st = FwpmTransactionAbort0(local);
      s.inTransaction = false;
      s.pending.clear();
      return status(st);
    }

    case Op::ProviderAdd: {
      Freed<FWPM_PROVIDER0> p{decodeObject<FWPM_PROVIDER0>(r.rest(), &oom)};
      if (!p.p) return malformed(oom);
      NTSTATUS st = FwpmProviderAdd0(local, p.p, nullptr);
      if (st == STATUS_SUCCESS && persists(p.p->flags, FWPM_PROVIDER_FLAG_PERSISTENT))
        change(s, {true, Kind::Provider, keyOf(p.p->providerKey)});
      return status(st);
    }
    case Op::SubLayerAdd: {
      Freed<FWPM_SUBLAYER0> p{decodeObject<FWPM_SUBLAYER0>(r.rest(), &oom)};
      if (!p.p) return malformed(oom);
      NTSTATUS st = FwpmSubLayerAdd0(local, p.p, nullptr);
      if (st == STATUS_SUCCESS && persists(p.p->flags, FWPM_SUBLAYER_FLAG_PERSISTENT))
        change(s, {true, Kind::SubLayer, keyOf(p.p->subLayerKey)});
      return status(st);
    }
    case Op::CalloutAdd: {
      Freed<FWPM_CALLOUT0> p{decodeObject<FWPM_CALLOUT0>(r.rest(), &oom)};
      if (!p.p) return malformed(oom);
      UINT32 id = 0;
      NTSTATUS st = FwpmCalloutAdd0(local, p.p, nullptr, &id);
      if (st == STATUS_SUCCESS && persists(p.p->flags, FWPM_CALLOUT_FLAG_PERSISTENT))
        change(s, {true, Kind::Callout, keyOf(p.p->calloutKey)});
      return replyU64(st, id);
    }
    case Op::FilterAdd: {
      Freed<FWPM_FILTER0> p{decodeObject<FWPM_FILTER0>(r.rest(), &oom)};
      if (!p.p) return malformed(oom);
      UINT64 id = 0;
      NTSTATUS st = FwpmFilterAdd0(local, p.p, nullptr, &id);
      if (st == STATUS_SUCCESS && persists(p.p->flags, FWPM_FILTER_FLAG_PERSISTENT)) {
        GUID key = p.p->filterKey;
        FWPM_FILTER0* added = nullptr;
        if (isNull(key) && FwpmFilterGetById0(local, id, &added) == STATUS_SUCCESS) {
          key = added->filterKey;  // the engine generated it
          FwpmFreeMemory0(reinterpret_cast<void**>(&added));
        }
        change(s, {true, Kind::Filter, keyOf(key)});
      }
      return replyU64(st, id);
    }

    case Op::ProviderDelete:
    case Op::SubLayerDelete:
    case Op::CalloutDeleteByKey:
    case Op::FilterDeleteByKey: {
      GUID key = decodeGuid(r);
      if (!r.ok() || !r.atEnd()) return malformed();
      NTSTATUS st;
      Kind kind;
      if (op == Op::ProviderDelete) {
        st = FwpmProviderDeleteByKey0(local, &key), kind = Kind::Provider;
      } else if (op == Op::SubLayerDelete) {
        st = FwpmSubLayerDeleteByKey0(local, &key), kind = Kind::SubLayer;
      } else if (op == Op::CalloutDeleteByKey) {
        st = FwpmCalloutDeleteByKey0(local, &key), kind = Kind::Callout;
      } else {
        st = FwpmFilterDeleteByKey0(local, &key), kind = Kind::Filter;
      }
      if (st == STATUS_SUCCESS) change(s, {false, kind, keyOf(key)});
      return status(st);
    }
    case Op::CalloutDeleteById: {
      UINT32 id = r.u32();
      if (!r.ok() || !r.atEnd()) return malformed();
      FWPM_CALLOUT0* before = nullptr;
      std::optional<Key> key;
      if (FwpmCalloutGetById0(local, id, &before) == STATUS_SUCCESS) {
        key = keyOf(before->calloutKey);
        FwpmFreeMemory0(reinterpret_cast<void**>(&before));
      }
      NTSTATUS st = FwpmCalloutDeleteById0(local, id);
      if (st == STATUS_SUCCESS && key) change(s, {false, Kind::Callout, *key});
      return status(st);
    }
    case Op::FilterDeleteById: {
      UINT64 id = r.u64();
      if (!r.ok() || !r.atEnd()) return malformed();
      FWPM_FILTER0* before = nullptr;
      std::optional<Key> key;
      if (FwpmFilterGetById0(local, id, &before) == STATUS_SUCCESS) {
        key = keyOf(before->filterKey);
        FwpmFreeMemory0(reinterpret_cast<void**>(&before));
      }
      NTSTATUS st = FwpmFilterDeleteById0(local, id);
      if (st == STATUS_SUCCESS && key) change(s, {false, Kind::Filter, *key});
      return status(st);
    }

    case Op::ProviderGet:
    case Op::SubLayerGet:
    case Op::CalloutGetByKey:
    case Op::FilterGetByKey: {
      GUID key = decodeGuid(r);
      if (!r.ok() || !r.atEnd()) return malformed();
      if (op == Op::ProviderGet) {
        FWPM_PROVIDER0* out = nullptr;
        NTSTATUS st = FwpmProviderGetByKey0(local, &key, &out);
        return reply(st, out);
      }
      if (op == Op::SubLayerGet) {
        FWPM_SUBLAYER0* out = nullptr;
        NTSTATUS st = FwpmSubLayerGetByKey0(local, &key, &out);
        return reply(st, out);
      }
      if (op == Op::CalloutGetByKey) {
        FWPM_CALLOUT0* out = nullptr;
        NTSTATUS st = FwpmCalloutGetByKey0(local, &key, &out);
        return reply(st, out);
      }
      FWPM_FILTER0* out = nullptr;
      NTSTATUS st = FwpmFilterGetByKey0(local, &key, &out);
      return reply(st, out);
    }
    case Op::CalloutGetById: {
      UINT32 id = r.u32();
      if (!r.ok() || !r.atEnd()) return malformed();
      FWPM_CALLOUT0* out = nullptr;
      NTSTATUS st = FwpmCalloutGetById0(local, id, &out);
      return reply(st, out);
    }
    case Op::FilterGetById: {
      UINT64 id = r.u64();
      if (!r.ok() || !r.atEnd()) return malformed();
      FWPM_FILTER0* out = nullptr;
      NTSTATUS st = FwpmFilterGetById0(local, id, &out);
      return reply(st, out);
    }

    case Op::EnumCreate:
    case Op::EnumNext:
    case Op::EnumDestroy:
      return enumCall(s, local, op, r);
    case Op::EngineOpen:
      break;  // handled above
  }
  return status(STATUS_INVALID_PARAMETER);  // an op this engine does not know
}

}  // namespace openwfp::um
