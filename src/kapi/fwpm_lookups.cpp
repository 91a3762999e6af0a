// kapi/fwpm_lookups.cpp - lookups and enumerations of callouts, providers and sublayers in the
// management C ABI of fwpmk.h (SPEC S14.4, S14.7): FwpmCalloutGetById0/GetByKey0,
// FwpmProviderGetByKey0, FwpmSubLayerGetByKey0 and the CreateEnumHandle0/Enum0/
// DestroyEnumHandle0 trio of each kind. Returned memory is one block per object (GetBy*) or per
// array (Enum0), freed by FwpmFreeMemory0. Enumeration handles belong to the session that
// created them and go when it closes (dropObjectEnums).
#include <unordered_map>
#include <variant>

#include "kapi/abi.h"

using namespace openwfp;
using namespace openwfp::kapi;

namespace {

uint64_t sessionOf(HANDLE h) { return handleValue(h); }

std::optional<engine::Guid> optionalGuid(const GUID* g) {
  if (!g) return std::nullopt;
  return toGuid(*g);
}

GUID* packGuid(Packer& p, const std::optional<engine::Guid>& g) {
  if (!g) return nullptr;
  GUID* out = p.alloc<GUID>();
  if (out) *out = fromGuid(*g);
  return out;
}

void packDisplay(Packer& p, FWPM_DISPLAY_DATA0& out, const engine::DisplayData& d) {
  out.name = packString(p, d.name);
  out.description = d.description.empty() ? nullptr : packString(p, d.description);
}

void packBlob(Packer& p, FWP_BYTE_BLOB& out, const std::vector<uint8_t>& data) {
  if (data.empty()) return;
  UINT8* d = p.alloc<UINT8>(data.size());
  if (d) std::memcpy(d, data.data(), data.size());
  out.size = static_cast<UINT32>(data.size());
  out.data = d;
}

void packObject(Packer& p, FWPM_PROVIDER0* out, const engine::Provider& v) {
  FWPM_PROVIDER0 scratch{};
  FWPM_PROVIDER0& o = out ? *out : scratch;
  o.providerKey = fromGuid(v.key);
  packDisplay(p, o.displayData, v.display);
  o.flags = v.flags;
  packBlob(p, o.providerData, v.data);
  o.serviceName = v.serviceName ? packString(p, *v.serviceName) : nullptr;
}

void packObject(Packer& p, FWPM_SUBLAYER0* out, const engine::SubLayer& v) {
  FWPM_SUBLAYER0 scratch{};
  FWPM_SUBLAYER0& o = out ? *out : scratch;
  o.subLayerKey = fromGuid(v.key);
  packDisplay(p, o.displayData, v.display);
  o.flags = v.flags;
  o.providerKey = packGuid(p, v.providerKey);
  packBlob(p, o.providerData, v.data);
  o.weight = v.weight;
}

void packObject(Packer& p, FWPM_CALLOUT0* out, const engine::CalloutObject& v) {
  FWPM_CALLOUT0 scratch{};
  FWPM_CALLOUT0& o = out ? *out : scratch;
  o.calloutKey = fromGuid(v.key);
  packDisplay(p, o.displayData, v.display);
  o.flags = v.flags;
  o.providerKey = packGuid(p, v.providerKey);
  packBlob(p, o.providerData, v.data);
  o.applicableLayer = fromGuid(v.applicableLayer);
  o.calloutId = v.id;
}

template <typename Abi, typename Obj>
NTSTATUS returnOne(const std::optional<Obj>& obj, NTSTATUS notFound, Abi** out) {
  if (!obj) return notFound;
  void* block = packed([&](Packer& p) { packObject(p, p.alloc<Abi>(), *obj); });
  if (!block) return STATUS_INSUFFICIENT_RESOURCES;
  *out = static_cast<Abi*>(block);
  return STATUS_SUCCESS;
}

// Enumeration handles of the three kinds: a snapshot taken at creation and a cursor.
using Snapshot = std::variant<std::vector<engine::Provider>, std::vector<engine::SubLayer>,
                              std::vector<engine::CalloutObject>>;
struct ObjectEnum {
  uint64_t session = 0;
  Snapshot objects;
  size_t next = 0;
};
std::mutex g_mu;  // guards g_enums, g_next
std::unordered_map<uint64_t, ObjectEnum> g_enums;
uint64_t g_next = 0xE800000;

NTSTATUS createEnum(HANDLE engineHandle, Snapshot objects, HANDLE* enumHandle) {
  std::lock_guard lock(g_mu);
  uint64_t h = g_next++;
  g_enums.emplace(h, ObjectEnum{sessionOf(engineHandle), std::move(objects), 0});
  *enumHandle = toHandle(h);
  return STATUS_SUCCESS;
}

template <typename Abi, typename Obj>
NTSTATUS enumNext(HANDLE engineHandle, HANDLE enumHandle, UINT32 requested, Abi*** entries,
                  UINT32* returned) {
  if (!entries || !returned) return STATUS_FWP_NULL_POINTER;
  *entries = nullptr;
  *returned = 0;
  std::vector<Obj> batch;
  {
    std::lock_guard lock(g_mu);
    auto it = g_enums.find(handleValue(enumHandle));
    if (it == g_enums.end() || it->second.session != sessionOf(engineHandle))
      return STATUS_INVALID_HANDLE;
    auto* all = std::get_if<std::vector<Obj>>(&it->second.objects);
    if (!all) return STATUS_INVALID_HANDLE;  // a handle of another kind
    size_t& next = it->second.next;
    while (batch.size() < requested && next < all->size()) batch.push_back((*all)[next++]);
  }
  if (batch.empty()) return STATUS_SUCCESS;
  void* block = packed([&](Packer& p) {
    auto** array = p.alloc<Abi*>(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      Abi* one = p.alloc<Abi>();
      if (array) array[i] = one;
      packObject(p, one, batch[i]);
    }
  });
  if (!block) return STATUS_INSUFFICIENT_RESOURCES;
  *entries = static_cast<Abi**>(block);
  *returned = static_cast<UINT32>(batch.size());
  return STATUS_SUCCESS;
}

template <typename Obj>
NTSTATUS destroyEnum(HANDLE engineHandle, HANDLE enumHandle) {
  std::lock_guard lock(g_mu);
  auto it = g_enums.find(handleValue(enumHandle));
  if (it == g_enums.end() || it->second.session != sessionOf(engineHandle) ||
      !std::holds_alternative<std::vector<Obj>>(it->second.objects))
    return STATUS_INVALID_HANDLE;
  g_enums.erase(it);
  return STATUS_SUCCESS;
}

}  // namespace

namespace openwfp::kapi {
void dropObjectEnums(uint64_t session) {
  std::lock_guard lock(g_mu);
  for (auto it = g_enums.begin(); it != g_enums.end();)
    it = it->second.session == session ? g_enums.erase(it) : std::next(it);
}
}  // namespace openwfp::kapi

extern "C" {

NTSTATUS NTAPI FwpmCalloutGetById0(HANDLE engineHandle, UINT32 id, FWPM_CALLOUT0** callout) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!callout) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  std::optional<engine::CalloutObject> found;
  for (auto& c : eng().callouts())
    if (c.id == id) found = c;
  return returnOne(found, STATUS_FWP_CALLOUT_NOT_FOUND, callout);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmCalloutGetByKey0(HANDLE engineHandle, const GUID* key, FWPM_CALLOUT0** callout) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!callout || !key) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  return returnOne(eng().calloutObject(toGuid(*key)), STATUS_FWP_CALLOUT_NOT_FOUND, callout);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmCalloutCreateEnumHandle0(HANDLE engineHandle,
                                            const FWPM_CALLOUT_ENUM_TEMPLATE0* enumTemplate,
                                            HANDLE* enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!enumHandle) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  std::optional<engine::Guid> provider, layer;
  if (enumTemplate) {
    provider = optionalGuid(enumTemplate->providerKey);
    // An all-zero layerKey means any layer.
    if (!toGuid(enumTemplate->layerKey).isNull()) layer = toGuid(enumTemplate->layerKey);
  }
  std::vector<engine::CalloutObject> out;
  for (auto& c : eng().callouts()) {
    if (provider && c.providerKey != provider) continue;
    if (layer && c.applicableLayer != *layer) continue;
    out.push_back(std::move(c));
  }
  return createEnum(engineHandle, std::move(out), enumHandle);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmCalloutEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                                FWPM_CALLOUT0*** entries, UINT32* numEntriesReturned) {
  OPENWFP_KAPI_GUARD_BEGIN
  return enumNext<FWPM_CALLOUT0, engine::CalloutObject>(engineHandle, enumHandle,
                                                        numEntriesRequested, entries,
                                                        numEntriesReturned);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmCalloutDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  return destroyEnum<engine::CalloutObject>(engineHandle, enumHandle);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmProviderGetByKey0(HANDLE engineHandle, const GUID* key,
                                     FWPM_PROVIDER0** provider) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!provider || !key) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  return returnOne(eng().provider(toGuid(*key)), STATUS_FWP_PROVIDER_NOT_FOUND, provider);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmProviderCreateEnumHandle0(HANDLE engineHandle,
                                             const FWPM_PROVIDER_ENUM_TEMPLATE0* enumTemplate,
                                             HANDLE* enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  (void)enumTemplate;  // reserved: every provider
  if (!enumHandle) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  return createEnum(engineHandle, eng().providers(), enumHandle);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmProviderEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                                 FWPM_PROVIDER0*** entries, UINT32* numEntriesReturned) {
  OPENWFP_KAPI_GUARD_BEGIN
  return enumNext<FWPM_PROVIDER0, engine::Provider>(engineHandle, enumHandle, numEntriesRequested,
                                                    entries, numEntriesReturned);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmProviderDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  return destroyEnum<engine::Provider>(engineHandle, enumHandle);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmSubLayerGetByKey0(HANDLE engineHandle, const GUID* key,
                                     FWPM_SUBLAYER0** subLayer) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!subLayer || !key) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  return returnOne(eng().subLayer(toGuid(*key)), STATUS_FWP_SUBLAYER_NOT_FOUND, subLayer);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmSubLayerCreateEnumHandle0(HANDLE engineHandle,
                                             const FWPM_SUBLAYER_ENUM_TEMPLATE0* enumTemplate,
                                             HANDLE* enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (!enumHandle) return STATUS_FWP_NULL_POINTER;
  if (!eng().validSession(sessionOf(engineHandle))) return STATUS_INVALID_HANDLE;
  std::optional<engine::Guid> provider = enumTemplate ? optionalGuid(enumTemplate->providerKey)
                                                      : std::nullopt;
  std::vector<engine::SubLayer> out;
  for (auto& s : eng().subLayers())
    if (!provider || s.providerKey == provider) out.push_back(std::move(s));
  return createEnum(engineHandle, std::move(out), enumHandle);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmSubLayerEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                                 FWPM_SUBLAYER0*** entries, UINT32* numEntriesReturned) {
  OPENWFP_KAPI_GUARD_BEGIN
  return enumNext<FWPM_SUBLAYER0, engine::SubLayer>(engineHandle, enumHandle, numEntriesRequested,
                                                    entries, numEntriesReturned);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

NTSTATUS NTAPI FwpmSubLayerDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  return destroyEnum<engine::SubLayer>(engineHandle, enumHandle);
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}

}  // extern "C"
