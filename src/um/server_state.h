// um/server_state.h - ManagementService's state (management_service.h): per client connection
// its engine sessions (the handle the client holds is the engine's own session handle, valid
// only on the connection that opened it), their transactions and enumeration handles, and the
// keys of the persistent objects the state file holds.
//
// Locks: Impl::mu guards `connections`; Connection::mu is held for the whole of one call of that
// connection; persistMu guards `persisted` and the state file. Order: Connection::mu ->
// persistMu. No lock of this file is held by the engine while it calls back.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "um/management_service.h"
#include "um/protocol.h"
#include "um/wire.h"

#include <fwpmk.h>

namespace openwfp::um {

using Key = std::array<uint8_t, 16>;
inline Key keyOf(const GUID& g) {
  Key k;
  std::memcpy(k.data(), &g, 16);
  return k;
}
inline GUID guidOf(const Key& k) {
  GUID g;
  std::memcpy(&g, k.data(), 16);
  return g;
}
inline HANDLE asHandle(uint64_t v) { return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(v)); }
inline uint64_t handleBits(HANDLE h) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(h)); }

// A change to the persistent set, applied at once outside a transaction, at commit inside one.
struct PersistChange {
  bool add = false;
  Kind kind = Kind::Filter;
  Key key{};
};

struct EnumState {
  Kind kind = Kind::Filter;
  std::deque<std::vector<uint8_t>> carry;  // encoded objects taken from the engine, not yet sent
  bool drained = false;                    // the engine's enumeration returned nothing more
};

struct SessionState {
  bool dynamic = false;
  bool inTransaction = false;
  std::vector<PersistChange> pending;
  std::map<uint64_t, EnumState> enums;
};

struct Connection {
  std::mutex mu;
  std::map<uint64_t, SessionState> sessions;
};

struct ManagementService::Impl {
  explicit Impl(ManagementOptions o) : options(std::move(o)) {}
  ManagementOptions options;

  std::mutex mu;
  std::map<uint64_t, std::shared_ptr<Connection>> connections;

  std::mutex persistMu;
  std::array<std::set<Key>, 5> persisted;  // indexed by Kind

  control::ServiceResult dispatch(Connection& c, Op op, Reader& r);
  control::ServiceResult enumCall(SessionState& s, HANDLE local, Op op, Reader& r);
  void closeSession(uint64_t handle, SessionState& s);

  // Persistence (state_file.cpp).
  void change(SessionState& s, PersistChange c);      // records or applies one change
  void commit(SessionState& s);                       // applies the session's pending changes
  void applyAndSave(const std::vector<PersistChange>& changes);
  std::optional<std::string> restore();
  std::string statePath() const;
};

// The object kinds and their Fwpm* functions, for code written once for all four.
template <Kind K>
struct KindOf;
template <>
struct KindOf<Kind::Provider> {
  using Abi = FWPM_PROVIDER0;
  using Template = FWPM_PROVIDER_ENUM_TEMPLATE0;
  static constexpr auto create = FwpmProviderCreateEnumHandle0;
  static constexpr auto next = FwpmProviderEnum0;
  static constexpr auto destroy = FwpmProviderDestroyEnumHandle0;
};
template <>
struct KindOf<Kind::SubLayer> {
  using Abi = FWPM_SUBLAYER0;
  using Template = FWPM_SUBLAYER_ENUM_TEMPLATE0;
  static constexpr auto create = FwpmSubLayerCreateEnumHandle0;
  static constexpr auto next = FwpmSubLayerEnum0;
  static constexpr auto destroy = FwpmSubLayerDestroyEnumHandle0;
};
template <>
struct KindOf<Kind::Callout> {
  using Abi = FWPM_CALLOUT0;
  using Template = FWPM_CALLOUT_ENUM_TEMPLATE0;
  static constexpr auto create = FwpmCalloutCreateEnumHandle0;
  static constexpr auto next = FwpmCalloutEnum0;
  static constexpr auto destroy = FwpmCalloutDestroyEnumHandle0;
};
template <>
struct KindOf<Kind::Filter> {
  using Abi = FWPM_FILTER0;
  using Template = FWPM_FILTER_ENUM_TEMPLATE0;
  static constexpr auto create = FwpmFilterCreateEnumHandle0;
  static constexpr auto next = FwpmFilterEnum0;
  static constexpr auto destroy = FwpmFilterDestroyEnumHandle0;
};

// Every object of kind K through a session (engine order), encoded; `fn` gets each Abi object.
template <Kind K, typename Fn>
NTSTATUS forEachObject(HANDLE session, Fn&& fn) {
  using T = KindOf<K>;
  HANDLE e = nullptr;
  NTSTATUS st = T::create(session, nullptr, &e);
  if (st != STATUS_SUCCESS) return st;
  for (;;) {
    typename T::Abi** batch = nullptr;
    UINT32 n = 0;
    st = T::next(session, e, 256, &batch, &n);
    if (st != STATUS_SUCCESS || n == 0) break;
    for (UINT32 i = 0; i < n; ++i) fn(*batch[i]);
    FwpmFreeMemory0(reinterpret_cast<void**>(&batch));
  }
  T::destroy(session, e);
  return st;
}

}  // namespace openwfp::um
