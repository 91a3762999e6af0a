// kapi/fwpm_objects.cpp - the management C ABI of fwpmk.h (SPEC S2): sessions, transactions,
// providers, sublayers, callouts, filters, enumeration, application ids, FwpmFreeMemory0.
#include <unordered_map>

#include "kapi/abi.h"

using namespace openwfp;
using namespace openwfp::kapi;
using engine::Status;

namespace {

uint64_t sessionOf(HANDLE h) { return handleValue(h); }

// Filter enumeration handles: a snapshot of the matching filters and a cursor.
struct FilterEnum {
  uint64_t session = 0;
  std::vector<std::shared_ptr<const engine::Filter>> filters;
  size_t next = 0;
};
std::mutex g_enumMu;  // guards g_enums, g_nextEnum
std::unordered_map<uint64_t, FilterEnum> g_enums;
uint64_t g_nextEnum = 0xE0000;

std::optional<engine::Guid> optionalGuid(const GUID* g) {
  if (!g) return std::nullopt;
  return toGuid(*g);
}

}  // namespace

extern "C" {

NTSTATUS NTAPI FwpmEngineOpen0(const wchar_t* serverName, UINT32 authnService,
                               SEC_WINNT_AUTH_IDENTITY_W* authIdentity,
                               const FWPM_SESSION0* session, HANDLE* engineHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  (void)authIdentity;
  if (!engineHandle) return STATUS_FWP_NULL_POINTER;
  if (serverName) return STATUS_INVALID_PARAMETER;  // only the local engine exists
  if (authnService != RPC_C_AUTHN_WINNT && authnService != static_cast<UINT32>(RPC_C_AUTHN_DEFAULT))
    return STATUS_INVALID_PARAMETER;
  bool dynamic = session && (session->flags & FWPM_SESSION_FLAG_DYNAMIC);
  *engineHandle = toHandle(eng().openSession(dynamic));
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmEngineClose0(HANDLE engineHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  {
    std::lock_guard lock(g_enumMu);
    for (auto it = g_enums.begin(); it != g_enums.end();)
      it = it->second.session == sessionOf(engineHandle) ? g_enums.erase(it) : std::next(it);
  }
  dropObjectEnums(sessionOf(engineHandle));
  return nt(eng().closeSession(sessionOf(engineHandle)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmTransactionBegin0(HANDLE engineHandle, UINT32 flags) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (flags & ~static_cast<UINT32>(FWPM_TXN_READ_ONLY)) return STATUS_FWP_INVALID_FLAGS;
  return nt(eng().beginTransaction(sessionOf(engineHandle), flags & FWPM_TXN_READ_ONLY));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmTransactionCommit0(HANDLE engineHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  return nt(eng().commitTransaction(sessionOf(engineHandle)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmTransactionAbort0(HANDLE engineHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  return nt(eng().abortTransaction(sessionOf(engineHandle)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmProviderAdd0(HANDLE engineHandle, const FWPM_PROVIDER0* provider,
                                PSECURITY_DESCRIPTOR sd) {
  OPENWFP_KAPI_GUARD_BEGIN
  (void)sd;
  if (!provider) return STATUS_FWP_NULL_POINTER;
  engine::Provider p;
  p.key = toGuid(provider->providerKey);
  p.display = displayFromAbi(provider->displayData);
  p.flags = provider->flags;
  p.data = blobFromAbi(provider->providerData);
  if (provider->serviceName) p.serviceName = std::wstring(provider->serviceName);
  return nt(eng().addProvider(sessionOf(engineHandle), std::move(p)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmProviderDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!key) return STATUS_FWP_NULL_POINTER;
  return nt(eng().deleteProvider(sessionOf(engineHandle), toGuid(*key)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmSubLayerAdd0(HANDLE engineHandle, const FWPM_SUBLAYER0* subLayer,
                                PSECURITY_DESCRIPTOR sd) {
  OPENWFP_KAPI_GUARD_BEGIN
  (void)sd;
  if (!subLayer) return STATUS_FWP_NULL_POINTER;
  engine::SubLayer s;
  s.key = toGuid(subLayer->subLayerKey);
  s.display = displayFromAbi(subLayer->displayData);
  s.flags = subLayer->flags;
  s.providerKey = optionalGuid(subLayer->providerKey);
  s.data = blobFromAbi(subLayer->providerData);
  s.weight = subLayer->weight;
  return nt(eng().addSubLayer(sessionOf(engineHandle), std::move(s)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmSubLayerDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!key) return STATUS_FWP_NULL_POINTER;
  return nt(eng().deleteSubLayer(sessionOf(engineHandle), toGuid(*key)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmCalloutAdd0(HANDLE engineHandle, const FWPM_CALLOUT0* callout,
                               PSECURITY_DESCRIPTOR sd, UINT32* id) {
  OPENWFP_KAPI_GUARD_BEGIN
  (void)sd;
  if (!callout) return STATUS_FWP_NULL_POINTER;
  engine::CalloutObject c;
  c.key = toGuid(callout->calloutKey);
  c.display = displayFromAbi(callout->displayData);
  c.flags = callout->flags;
  c.providerKey = optionalGuid(callout->providerKey);
  c.data = blobFromAbi(callout->providerData);
  c.applicableLayer = toGuid(callout->applicableLayer);
  return nt(eng().addCallout(sessionOf(engineHandle), std::move(c), id));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmCalloutDeleteById0(HANDLE engineHandle, UINT32 id) {
  OPENWFP_KAPI_GUARD_BEGIN
  return nt(eng().deleteCalloutById(sessionOf(engineHandle), id));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmCalloutDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!key) return STATUS_FWP_NULL_POINTER;
  return nt(eng().deleteCalloutByKey(sessionOf(engineHandle), toGuid(*key)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmFilterAdd0(HANDLE engineHandle, const FWPM_FILTER0* filter,
                              PSECURITY_DESCRIPTOR sd, UINT64* id) {
  OPENWFP_KAPI_GUARD_BEGIN
  (void)sd;
  if (!filter) return STATUS_FWP_NULL_POINTER;
  if (filter->numFilterConditions && !filter->filterCondition) return STATUS_FWP_NULL_POINTER;
  engine::FilterSpec spec;
  spec.key = toGuid(filter->filterKey);
  spec.display = displayFromAbi(filter->displayData);
  spec.flags = filter->flags;
  spec.providerKey = optionalGuid(filter->providerKey);
  spec.providerData = blobFromAbi(filter->providerData);
  spec.layerKey = toGuid(filter->layerKey);
  spec.subLayerKey = toGuid(filter->subLayerKey);
  // Weight: FWP_EMPTY, FWP_UINT8 (0..15) or FWP_UINT64 (S2.5); anything else is invalid.
  spec.weight.type = static_cast<engine::DataType>(filter->weight.type);
  switch (filter->weight.type) {
    case FWP_EMPTY: break;
    case FWP_UINT8: spec.weight.value = filter->weight.uint8; break;
    case FWP_UINT64:
      if (!filter->weight.uint64) return STATUS_FWP_NULL_POINTER;
      spec.weight.value = *filter->weight.uint64;
      break;
    default: return STATUS_FWP_INVALID_WEIGHT;
  }
  for (UINT32 i = 0; i < filter->numFilterConditions; ++i) {
    const FWPM_FILTER_CONDITION0& in = filter->filterCondition[i];
    auto field = engine::fieldForCondition(toGuid(in.fieldKey));
    if (!field) return STATUS_FWP_CONDITION_NOT_FOUND;
    engine::Condition c;
    c.field = *field;
    c.match = static_cast<engine::MatchType>(in.matchType);
    Status s = valueFromAbi(in.conditionValue, c.value, c.high);
    if (s != Status::Success) return nt(s);
    if (in.conditionValue.type == FWP_RANGE_TYPE && c.match != engine::MatchType::Range)
      return STATUS_FWP_MATCH_TYPE_MISMATCH;
    spec.conditions.push_back(std::move(c));
  }
  spec.action = static_cast<engine::ActionType>(filter->action.type);
  spec.filterTypeOrCalloutKey = toGuid(filter->action.calloutKey);
  spec.rawContext = filter->rawContext;
  return nt(eng().addFilter(sessionOf(engineHandle), std::move(spec), id));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmFilterDeleteById0(HANDLE engineHandle, UINT64 id) {
  OPENWFP_KAPI_GUARD_BEGIN
  return nt(eng().deleteFilterById(sessionOf(engineHandle), id));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmFilterDeleteByKey0(HANDLE engineHandle, const GUID* key) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!key) return STATUS_FWP_NULL_POINTER;
  return nt(eng().deleteFilterByKey(sessionOf(engineHandle), toGuid(*key)));
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

static NTSTATUS returnFilter(const std::shared_ptr<const engine::Filter>& f, FWPM_FILTER0** out) {
  if (!f) return STATUS_FWP_FILTER_NOT_FOUND;
  void* block = packed([&](Packer& p) {
    FWPM_FILTER0* fl = p.alloc<FWPM_FILTER0>();
    packFilter(p, fl, *f);
  });
  if (!block) return STATUS_INSUFFICIENT_RESOURCES;
  *out = static_cast<FWPM_FILTER0*>(block);
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI FwpmFilterGetById0(HANDLE engineHandle, UINT64 id, FWPM_FILTER0** filter) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!filter) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  return returnFilter(eng().filterById(id), filter);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmFilterGetByKey0(HANDLE engineHandle, const GUID* key, FWPM_FILTER0** filter) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!filter || !key) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  return returnFilter(eng().filterByKey(toGuid(*key)), filter);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmFilterCreateEnumHandle0(HANDLE engineHandle,
                                           const FWPM_FILTER_ENUM_TEMPLATE0* enumTemplate,
                                           HANDLE* enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!enumHandle) return STATUS_FWP_NULL_POINTER;
  uint64_t session = sessionOf(engineHandle);
  if (!eng().validSession(session)) return STATUS_INVALID_HANDLE;
  FilterEnum e;
  e.session = session;
  std::optional<engine::Guid> layer, provider, callout;
  UINT32 actionMask = 0xFFFFFFFF;
  if (enumTemplate) {
    // An all-zero layerKey means any layer (openwfp: the template's conditions are not used).
    if (!toGuid(enumTemplate->layerKey).isNull()) layer = toGuid(enumTemplate->layerKey);
    provider = optionalGuid(enumTemplate->providerKey);
    callout = optionalGuid(enumTemplate->calloutKey);
    actionMask = enumTemplate->actionMask;
  }
  for (auto& f : eng().filters(layer ? &*layer : nullptr)) {
    if (provider && (!f->spec.providerKey || *f->spec.providerKey != *provider)) continue;
    if (callout && (!engine::isCalloutAction(f->spec.action) ||
                    f->spec.filterTypeOrCalloutKey != *callout))
      continue;
    if (enumTemplate && actionMask != 0xFFFFFFFF &&
        !(static_cast<UINT32>(f->spec.action) & actionMask))
      continue;
    e.filters.push_back(f);
  }
  std::lock_guard lock(g_enumMu);
  uint64_t h = g_nextEnum++;
  g_enums.emplace(h, std::move(e));
  *enumHandle = toHandle(h);
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmFilterEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                               FWPM_FILTER0*** entries, UINT32* numEntriesReturned) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!entries || !numEntriesReturned) return STATUS_FWP_NULL_POINTER;
  *entries = nullptr;
  *numEntriesReturned = 0;
  std::vector<std::shared_ptr<const engine::Filter>> batch;
  {
    std::lock_guard lock(g_enumMu);
    auto it = g_enums.find(handleValue(enumHandle));
    if (it == g_enums.end() || it->second.session != sessionOf(engineHandle))
      return STATUS_INVALID_HANDLE;
    FilterEnum& e = it->second;
    while (batch.size() < numEntriesRequested && e.next < e.filters.size())
      batch.push_back(e.filters[e.next++]);
  }
  if (batch.empty()) return STATUS_SUCCESS;
  void* block = packed([&](Packer& p) {
    auto** array = p.alloc<FWPM_FILTER0*>(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      FWPM_FILTER0* fl = p.alloc<FWPM_FILTER0>();
      if (array) array[i] = fl;
      packFilter(p, fl, *batch[i]);
    }
  });
  if (!block) return STATUS_INSUFFICIENT_RESOURCES;
  *entries = static_cast<FWPM_FILTER0**>(block);
  *numEntriesReturned = static_cast<UINT32>(batch.size());
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmFilterDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  std::lock_guard lock(g_enumMu);
  auto it = g_enums.find(handleValue(enumHandle));
  if (it == g_enums.end() || it->second.session != sessionOf(engineHandle))
    return STATUS_INVALID_HANDLE;
  g_enums.erase(it);
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmGetAppIdFromFileName0(PCWSTR fileName, FWP_BYTE_BLOB** appId) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!fileName || !appId) return STATUS_FWP_NULL_POINTER;
  // S2.4 (openwfp choice): the application id is the image path itself (the Linux path) as a
  // NUL-terminated WCHAR string; no device-path translation, no case folding.
  size_t chars = std::wcslen(fileName) + 1;
  size_t bytes = chars * sizeof(wchar_t);
  void* block = packed([&](Packer& p) {
    auto* b = p.alloc<FWP_BYTE_BLOB>();
    auto* d = p.alloc<UINT8>(bytes);
    if (b) {
      b->size = static_cast<UINT32>(bytes);
      b->data = d;
      std::memcpy(d, fileName, bytes);
    }
  });
  if (!block) return STATUS_INSUFFICIENT_RESOURCES;
  *appId = static_cast<FWP_BYTE_BLOB*>(block);
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

void NTAPI FwpmFreeMemory0(void** p) {
  if (!p) return;
  std::free(*p);
  *p = nullptr;
}

}  // extern "C"
