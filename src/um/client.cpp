// um/client.cpp - the user-mode Fwpm* functions of include/openwfp/um/fwpmu.h (SPEC S14.4;
// docs/management-api.md): each sends one management call (protocol.h) over the engine handle's
// own connection and returns the DWORD fwpuclnt returns. NULL where a pointer is required:
// ERROR_INVALID_PARAMETER; an unknown handle: ERROR_INVALID_HANDLE; no engine:
// EPT_S_NOT_REGISTERED; a connection that broke: RPC_S_CALL_FAILED.
#include "um/client.h"

#include <cstdlib>
#include <map>

#include "um/status_map.h"

using namespace openwfp::um;

namespace openwfp::um {

namespace {
std::mutex g_mu;  // guards g_engines
std::map<HANDLE, std::shared_ptr<ClientEngine>> g_engines;
}  // namespace

std::shared_ptr<ClientEngine> engineOf(HANDLE h) {
  std::lock_guard lock(g_mu);
  auto it = g_engines.find(h);
  return it == g_engines.end() ? nullptr : it->second;
}

DWORD call(ClientEngine& e, Op op, Writer& payload, std::vector<uint8_t>* reply) {
  if (!payload.ok() || payload.size() > kMaxPayload) return ERROR_INVALID_PARAMETER;
  std::optional<Reply> r;
  {
    std::lock_guard lock(e.mu);
    if (!e.transport) return kCallFailed;
    r = e.transport->call(static_cast<uint32_t>(op), payload.bytes());
  }
  if (!r) return kCallFailed;
  DWORD out = win32FromNtStatus(r->status);
  if (out == ERROR_SUCCESS && reply) *reply = std::move(r->payload);
  return out;
}

}  // namespace openwfp::um

namespace {

// The body of a call on an engine handle, with the handle looked up first.
template <typename Body>
DWORD onEngine(HANDLE engineHandle, Body&& body) {
  try {
    auto e = engineOf(engineHandle);
    if (!e) return ERROR_INVALID_HANDLE;
    return body(*e);
  } catch (const std::bad_alloc&) {
    return ERROR_NOT_ENOUGH_MEMORY;
  }
}

template <typename T>
DWORD add(HANDLE engineHandle, Op op, const T* object) {
  if (!object) return ERROR_INVALID_PARAMETER;
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    encode(w, *object);
    return call(e, op, w);
  });
}

DWORD byKey(HANDLE engineHandle, Op op, const GUID* key, std::vector<uint8_t>* reply = nullptr) {
  if (!key) return ERROR_INVALID_PARAMETER;
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    encodeGuid(w, *key);
    return call(e, op, w, reply);
  });
}

template <typename T>
DWORD getByKey(HANDLE engineHandle, Op op, const GUID* key, T** out) {
  if (!out) return ERROR_INVALID_PARAMETER;
  *out = nullptr;
  std::vector<uint8_t> reply;
  DWORD st = byKey(engineHandle, op, key, &reply);
  return st == ERROR_SUCCESS ? returnObject(reply, out) : st;
}

DWORD txn(HANDLE engineHandle, Op op) {
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    return call(e, op, w);
  });
}

}  // namespace

extern "C" {

DWORD WINAPI FwpmEngineOpen0(const wchar_t* serverName, UINT32 authnService,
                             SEC_WINNT_AUTH_IDENTITY_W* authIdentity, const FWPM_SESSION0* session,
                             HANDLE* engineHandle) {
  (void)authIdentity;  // the engine knows the caller from the socket's credentials
  if (!engineHandle) return ERROR_INVALID_PARAMETER;
  *engineHandle = nullptr;
  if (serverName) return ERROR_INVALID_PARAMETER;  // only the local engine exists
  try {
    uint32_t error = 0;
    auto e = std::make_shared<ClientEngine>();
    e->transport = connectTransport(error);
    if (!e->transport) return error;
    Writer w;
    w.u32(authnService);
    w.u8(session ? 1 : 0);
    if (session) encode(w, *session);
    std::vector<uint8_t> reply;
    DWORD st = call(*e, Op::EngineOpen, w, &reply);
    if (st != ERROR_SUCCESS) return st;
    Reader r(reply);
    e->remote = r.u64();
    if (!r.ok()) return ERROR_INVALID_DATA;
    HANDLE h = static_cast<HANDLE>(e.get());
    std::lock_guard lock(g_mu);
    g_engines[h] = std::move(e);
    *engineHandle = h;
    return ERROR_SUCCESS;
  } catch (const std::bad_alloc&) {
    return ERROR_NOT_ENOUGH_MEMORY;
  }
}

DWORD WINAPI FwpmEngineClose0(HANDLE engineHandle) {
  std::shared_ptr<ClientEngine> e;
  {
    std::lock_guard lock(g_mu);
    auto it = g_engines.find(engineHandle);
    if (it == g_engines.end()) return ERROR_INVALID_HANDLE;
    e = std::move(it->second);
    g_engines.erase(it);
  }
  Writer w = request(*e);
  DWORD st = call(*e, Op::EngineClose, w);
  std::lock_guard lock(e->mu);
  e->transport.reset();  // the connection ends: the engine drops whatever is left of the session
  return st;
}

DWORD WINAPI FwpmTransactionBegin0(HANDLE engineHandle, UINT32 flags) {
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    w.u32(flags);
    return call(e, Op::TransactionBegin, w);
  });
}

DWORD WINAPI FwpmTransactionCommit0(HANDLE engineHandle) { return txn(engineHandle, Op::TransactionCommit); }
DWORD WINAPI FwpmTransactionAbort0(HANDLE engineHandle) { return txn(engineHandle, Op::TransactionAbort); }

DWORD WINAPI FwpmProviderAdd0(HANDLE engineHandle, const FWPM_PROVIDER0* provider, PSECURITY_DESCRIPTOR) {
  return add(engineHandle, Op::ProviderAdd, provider);
}
DWORD WINAPI FwpmProviderDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  return byKey(engineHandle, Op::ProviderDelete, key);
}
DWORD WINAPI FwpmProviderGetByKey0(HANDLE engineHandle, const GUID* key, FWPM_PROVIDER0** provider) {
  return getByKey(engineHandle, Op::ProviderGet, key, provider);
}

DWORD WINAPI FwpmSubLayerAdd0(HANDLE engineHandle, const FWPM_SUBLAYER0* subLayer, PSECURITY_DESCRIPTOR) {
  return add(engineHandle, Op::SubLayerAdd, subLayer);
}
DWORD WINAPI FwpmSubLayerDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  return byKey(engineHandle, Op::SubLayerDelete, key);
}
DWORD WINAPI FwpmSubLayerGetByKey0(HANDLE engineHandle, const GUID* key, FWPM_SUBLAYER0** subLayer) {
  return getByKey(engineHandle, Op::SubLayerGet, key, subLayer);
}

DWORD WINAPI FwpmCalloutAdd0(HANDLE engineHandle, const FWPM_CALLOUT0* callout, PSECURITY_DESCRIPTOR,
                             UINT32* id) {
  if (!callout) return ERROR_INVALID_PARAMETER;
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    encode(w, *callout);
    std::vector<uint8_t> reply;
    DWORD st = call(e, Op::CalloutAdd, w, &reply);
    Reader r(reply);
    uint64_t value = r.u64();
    if (st == ERROR_SUCCESS && id) *id = static_cast<UINT32>(value);
    return st;
  });
}
DWORD WINAPI FwpmCalloutDeleteById0(HANDLE engineHandle, UINT32 id) {
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    w.u32(id);
    return call(e, Op::CalloutDeleteById, w);
  });
}
DWORD WINAPI FwpmCalloutDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  return byKey(engineHandle, Op::CalloutDeleteByKey, key);
}
DWORD WINAPI FwpmCalloutGetById0(HANDLE engineHandle, UINT32 id, FWPM_CALLOUT0** callout) {
  if (!callout) return ERROR_INVALID_PARAMETER;
  *callout = nullptr;
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    w.u32(id);
    std::vector<uint8_t> reply;
    DWORD st = call(e, Op::CalloutGetById, w, &reply);
    return st == ERROR_SUCCESS ? returnObject(reply, callout) : st;
  });
}
DWORD WINAPI FwpmCalloutGetByKey0(HANDLE engineHandle, const GUID* key, FWPM_CALLOUT0** callout) {
  return getByKey(engineHandle, Op::CalloutGetByKey, key, callout);
}

DWORD WINAPI FwpmFilterAdd0(HANDLE engineHandle, const FWPM_FILTER0* filter, PSECURITY_DESCRIPTOR,
                            UINT64* id) {
  if (!filter) return ERROR_INVALID_PARAMETER;
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    encode(w, *filter);
    std::vector<uint8_t> reply;
    DWORD st = call(e, Op::FilterAdd, w, &reply);
    Reader r(reply);
    uint64_t value = r.u64();
    if (st == ERROR_SUCCESS && id) *id = value;
    return st;
  });
}
DWORD WINAPI FwpmFilterDeleteById0(HANDLE engineHandle, UINT64 id) {
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    w.u64(id);
    return call(e, Op::FilterDeleteById, w);
  });
}
DWORD WINAPI FwpmFilterDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  return byKey(engineHandle, Op::FilterDeleteByKey, key);
}
DWORD WINAPI FwpmFilterGetById0(HANDLE engineHandle, UINT64 id, FWPM_FILTER0** filter) {
  if (!filter) return ERROR_INVALID_PARAMETER;
  *filter = nullptr;
  return onEngine(engineHandle, [&](ClientEngine& e) {
    Writer w = request(e);
    w.u64(id);
    std::vector<uint8_t> reply;
    DWORD st = call(e, Op::FilterGetById, w, &reply);
    return st == ERROR_SUCCESS ? returnObject(reply, filter) : st;
  });
}
DWORD WINAPI FwpmFilterGetByKey0(HANDLE engineHandle, const GUID* key, FWPM_FILTER0** filter) {
  return getByKey(engineHandle, Op::FilterGetByKey, key, filter);
}

void WINAPI FwpmFreeMemory0(void** p) {
  if (!p) return;
  std::free(*p);
  *p = nullptr;
}

DWORD WINAPI FwpmGetAppIdFromFileName0(PCWSTR fileName, FWP_BYTE_BLOB** appId) {
  if (!fileName || !appId) return ERROR_INVALID_PARAMETER;
  // S2.4 (openwfp choice): the application id is the path itself, NUL-terminated wchar_t.
  size_t bytes = (std::wcslen(fileName) + 1) * sizeof(wchar_t);
  auto* block = static_cast<uint8_t*>(std::malloc(sizeof(FWP_BYTE_BLOB) + bytes));
  if (!block) return ERROR_NOT_ENOUGH_MEMORY;
  auto* blob = reinterpret_cast<FWP_BYTE_BLOB*>(block);
  blob->size = static_cast<UINT32>(bytes);
  blob->data = block + sizeof(FWP_BYTE_BLOB);
  std::memcpy(blob->data, fileName, bytes);
  *appId = blob;
  return ERROR_SUCCESS;
}

}  // extern "C"
