// um/client_enum.cpp - the user-mode CreateEnumHandle0 / Enum0 / DestroyEnumHandle0 of the four
// kinds (SPEC S14.4). Enum0 asks the engine until it has numEntriesRequested objects or the
// engine has no more (each reply holds what fits 1 MiB), and returns them in one block: the
// array and the objects it points to, freed by one FwpmFreeMemory0.
#include "um/client.h"

using namespace openwfp::um;

namespace {

template <typename Template>
DWORD createEnum(HANDLE engineHandle, Kind kind, const Template* tmpl, HANDLE* enumHandle) {
  if (!enumHandle) return ERROR_INVALID_PARAMETER;
  *enumHandle = nullptr;
  auto e = engineOf(engineHandle);
  if (!e) return ERROR_INVALID_HANDLE;
  Writer w = request(*e);
  w.u8(static_cast<uint8_t>(kind));
  w.u8(tmpl ? 1 : 0);
  if (tmpl) encode(w, *tmpl);
  std::vector<uint8_t> reply;
  DWORD st = call(*e, Op::EnumCreate, w, &reply);
  if (st != ERROR_SUCCESS) return st;
  Reader r(reply);
  uint64_t h = r.u64();
  if (!r.ok()) return ERROR_INVALID_DATA;
  *enumHandle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(h));
  return ERROR_SUCCESS;
}

template <typename T>
DWORD enumNext(HANDLE engineHandle, Kind kind, HANDLE enumHandle, UINT32 wanted, T*** entries,
               UINT32* returned) {
  if (!entries || !returned) return ERROR_INVALID_PARAMETER;
  *entries = nullptr;
  *returned = 0;
  auto e = engineOf(engineHandle);
  if (!e) return ERROR_INVALID_HANDLE;
  // The objects' encodings, one after the other, and how many.
  std::vector<uint8_t> all;
  UINT32 count = 0;
  while (count < wanted) {
    Writer w = request(*e);
    w.u8(static_cast<uint8_t>(kind));
    w.u64(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(enumHandle)));
    w.u32(wanted - count);
    std::vector<uint8_t> reply;
    DWORD st = call(*e, Op::EnumNext, w, &reply);
    if (st != ERROR_SUCCESS) return st;
    Reader r(reply);
    uint32_t n = r.u32();
    if (!r.countFits(n, 4) || n > wanted - count) return ERROR_INVALID_DATA;
    if (n == 0) break;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t len = r.u32();
      if (!r.countFits(len, 1)) return ERROR_INVALID_DATA;
      size_t at = all.size();
      all.resize(at + len);
      r.raw(all.data() + at, len);
    }
    if (!r.ok() || !r.atEnd()) return ERROR_INVALID_DATA;
    count += n;
  }
  if (count == 0) return ERROR_SUCCESS;
  bool oom = false;
  void* block = decodeBlock(
      all,
      [&](Reader& r, Packer& p) {
        T** array = p.alloc<T*>(count);
        for (UINT32 i = 0; i < count; ++i) {
          array[i] = p.alloc<T>();
          if (!decode(r, p, *array[i])) return false;
        }
        return true;
      },
      &oom);
  if (!block) return oom ? ERROR_NOT_ENOUGH_MEMORY : ERROR_INVALID_DATA;
  *entries = static_cast<T**>(block);
  *returned = count;
  return ERROR_SUCCESS;
}

DWORD destroyEnum(HANDLE engineHandle, Kind kind, HANDLE enumHandle) {
  auto e = engineOf(engineHandle);
  if (!e) return ERROR_INVALID_HANDLE;
  Writer w = request(*e);
  w.u8(static_cast<uint8_t>(kind));
  w.u64(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(enumHandle)));
  return call(*e, Op::EnumDestroy, w);
}

template <typename Body>
DWORD guarded(Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return ERROR_NOT_ENOUGH_MEMORY;
  }
}

}  // namespace

extern "C" {

DWORD WINAPI FwpmFilterCreateEnumHandle0(HANDLE engineHandle, const FWPM_FILTER_ENUM_TEMPLATE0* t,
                                         HANDLE* enumHandle) {
  return guarded([&] { return createEnum(engineHandle, Kind::Filter, t, enumHandle); });
}
DWORD WINAPI FwpmFilterEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 n, FWPM_FILTER0*** entries,
                             UINT32* returned) {
  return guarded([&] { return enumNext(engineHandle, Kind::Filter, enumHandle, n, entries, returned); });
}
DWORD WINAPI FwpmFilterDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  return guarded([&] { return destroyEnum(engineHandle, Kind::Filter, enumHandle); });
}

DWORD WINAPI FwpmCalloutCreateEnumHandle0(HANDLE engineHandle, const FWPM_CALLOUT_ENUM_TEMPLATE0* t,
                                          HANDLE* enumHandle) {
  return guarded([&] { return createEnum(engineHandle, Kind::Callout, t, enumHandle); });
}
DWORD WINAPI FwpmCalloutEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 n,
                              FWPM_CALLOUT0*** entries, UINT32* returned) {
  return guarded([&] { return enumNext(engineHandle, Kind::Callout, enumHandle, n, entries, returned); });
}
DWORD WINAPI FwpmCalloutDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  return guarded([&] { return destroyEnum(engineHandle, Kind::Callout, enumHandle); });
}

DWORD WINAPI FwpmProviderCreateEnumHandle0(HANDLE engineHandle,
                                           const FWPM_PROVIDER_ENUM_TEMPLATE0* t, HANDLE* enumHandle) {
  return guarded([&] { return createEnum(engineHandle, Kind::Provider, t, enumHandle); });
}
DWORD WINAPI FwpmProviderEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 n,
                               FWPM_PROVIDER0*** entries, UINT32* returned) {
  return guarded([&] { return enumNext(engineHandle, Kind::Provider, enumHandle, n, entries, returned); });
}
DWORD WINAPI FwpmProviderDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  return guarded([&] { return destroyEnum(engineHandle, Kind::Provider, enumHandle); });
}

DWORD WINAPI FwpmSubLayerCreateEnumHandle0(HANDLE engineHandle,
                                           const FWPM_SUBLAYER_ENUM_TEMPLATE0* t, HANDLE* enumHandle) {
  return guarded([&] { return createEnum(engineHandle, Kind::SubLayer, t, enumHandle); });
}
DWORD WINAPI FwpmSubLayerEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 n,
                               FWPM_SUBLAYER0*** entries, UINT32* returned) {
  return guarded([&] { return enumNext(engineHandle, Kind::SubLayer, enumHandle, n, entries, returned); });
}
DWORD WINAPI FwpmSubLayerDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle) {
  return guarded([&] { return destroyEnum(engineHandle, Kind::SubLayer, enumHandle); });
}

}  // extern "C"
