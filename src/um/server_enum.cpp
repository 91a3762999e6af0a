// um/server_enum.cpp - the enumeration calls of the management service (SPEC S14.4, S14.7):
// CreateEnumHandle0 / Enum0 / DestroyEnumHandle0 of the four kinds over the engine's own
// enumeration, with replies paged to stay under kReplyBudget (protocol.h). Objects taken from
// the engine but not sent yet wait in EnumState::carry for the next call.
#include <cstdlib>

#include "um/codec.h"
#include "um/server_state.h"

namespace openwfp::um {

namespace {

using control::ServiceResult;

// Objects asked of the engine per refill of the carry.
constexpr UINT32 kEngineBatch = 64;

template <Kind K>
ServiceResult create(SessionState& s, HANDLE local, Reader& r) {
  using T = KindOf<K>;
  typename T::Template* tmpl = nullptr;
  bool oom = false;
  if (r.u8()) {
    tmpl = decodeObject<typename T::Template>(r.rest(), &oom);
    if (!tmpl) return {oom ? STATUS_INSUFFICIENT_RESOURCES : STATUS_INVALID_PARAMETER, {}};
  } else if (!r.atEnd()) {
    return {STATUS_INVALID_PARAMETER, {}};
  }
  HANDLE e = nullptr;
  NTSTATUS st = T::create(local, tmpl, &e);
  std::free(tmpl);
  if (st != STATUS_SUCCESS) return {st, {}};
  s.enums[handleBits(e)].kind = K;
  Writer w;
  w.u64(handleBits(e));
  return {STATUS_SUCCESS, std::move(w.bytes())};
}

template <Kind K>
NTSTATUS refill(HANDLE local, uint64_t handle, EnumState& e, UINT32 want) {
  using T = KindOf<K>;
  typename T::Abi** batch = nullptr;
  UINT32 n = 0;
  NTSTATUS st = T::next(local, asHandle(handle), want, &batch, &n);
  if (st != STATUS_SUCCESS) return st;
  if (n == 0) e.drained = true;
  for (UINT32 i = 0; i < n; ++i) {
    Writer w;
    encode(w, *batch[i]);
    e.carry.push_back(std::move(w.bytes()));
  }
  if (batch) FwpmFreeMemory0(reinterpret_cast<void**>(&batch));
  return STATUS_SUCCESS;
}

NTSTATUS refillAny(Kind k, HANDLE local, uint64_t handle, EnumState& e, UINT32 want) {
  switch (k) {
    case Kind::Provider: return refill<Kind::Provider>(local, handle, e, want);
    case Kind::SubLayer: return refill<Kind::SubLayer>(local, handle, e, want);
    case Kind::Callout: return refill<Kind::Callout>(local, handle, e, want);
    case Kind::Filter: return refill<Kind::Filter>(local, handle, e, want);
  }
  return STATUS_INVALID_PARAMETER;
}

NTSTATUS destroyAny(Kind k, HANDLE local, uint64_t handle) {
  switch (k) {
    case Kind::Provider: return KindOf<Kind::Provider>::destroy(local, asHandle(handle));
    case Kind::SubLayer: return KindOf<Kind::SubLayer>::destroy(local, asHandle(handle));
    case Kind::Callout: return KindOf<Kind::Callout>::destroy(local, asHandle(handle));
    case Kind::Filter: return KindOf<Kind::Filter>::destroy(local, asHandle(handle));
  }
  return STATUS_INVALID_PARAMETER;
}

bool validKind(uint8_t k) { return k >= 1 && k <= 4; }

}  // namespace

control::ServiceResult ManagementService::Impl::enumCall(SessionState& s, HANDLE local, Op op,
                                                         Reader& r) {
  uint8_t kindByte = r.u8();
  if (!r.ok() || !validKind(kindByte)) return {STATUS_INVALID_PARAMETER, {}};
  Kind kind = static_cast<Kind>(kindByte);
  if (op == Op::EnumCreate) {
    switch (kind) {
      case Kind::Provider: return create<Kind::Provider>(s, local, r);
      case Kind::SubLayer: return create<Kind::SubLayer>(s, local, r);
      case Kind::Callout: return create<Kind::Callout>(s, local, r);
      case Kind::Filter: return create<Kind::Filter>(s, local, r);
    }
  }
  uint64_t handle = r.u64();
  UINT32 wanted = op == Op::EnumNext ? r.u32() : 0;
  if (!r.ok() || !r.atEnd()) return {STATUS_INVALID_PARAMETER, {}};
  auto it = s.enums.find(handle);
  if (it == s.enums.end() || it->second.kind != kind) return {STATUS_INVALID_HANDLE, {}};
  EnumState& e = it->second;
  if (op == Op::EnumDestroy) {
    NTSTATUS st = destroyAny(kind, local, handle);
    s.enums.erase(it);
    return {st, {}};
  }

  // EnumNext: up to `wanted` objects, as many as fit the reply budget.
  std::vector<std::vector<uint8_t>> out;
  size_t bytes = 4;
  while (out.size() < wanted) {
    if (e.carry.empty()) {
      if (e.drained) break;
      UINT32 ask = std::min<UINT32>(kEngineBatch, wanted - static_cast<UINT32>(out.size()));
      NTSTATUS st = refillAny(kind, local, handle, e, ask);
      if (st != STATUS_SUCCESS) return {st, {}};
      continue;
    }
    size_t next = 4 + e.carry.front().size();
    if (bytes + next > kReplyBudget) {
      if (!out.empty()) break;  // the rest goes in the next reply
      e.carry.pop_front();      // one object larger than a reply: it cannot be returned
      return {STATUS_INSUFFICIENT_RESOURCES, {}};
    }
    bytes += next;
    out.push_back(std::move(e.carry.front()));
    e.carry.pop_front();
  }
  Writer w;
  w.u32(static_cast<uint32_t>(out.size()));
  for (auto& o : out) {
    w.u32(static_cast<uint32_t>(o.size()));
    w.raw(o.data(), o.size());
  }
  return {STATUS_SUCCESS, std::move(w.bytes())};
}

}  // namespace openwfp::um
