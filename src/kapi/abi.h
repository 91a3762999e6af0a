// kapi/abi.h - helpers shared by the WDK C ABI files: engine access, GUID/sockaddr/value
// conversions, packed allocations freed with FwpmFreeMemory0, and the per-filter and
// per-classify structures callouts see. Include the WDK headers (fwpsk.h, fwpmk.h) first; no
// Linux socket headers here (the km headers define the Windows SDK values, AF_INET6 = 23).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "engine/engine.h"
#include "openwfp/openwfp.h"

#include <fwpmk.h>
#include <fwpsk.h>

namespace openwfp::kapi {

inline constexpr ADDRESS_FAMILY kAfInet = 2;
inline constexpr ADDRESS_FAMILY kAfInet6 = 23;

inline engine::Engine& eng() { return Runtime::current().engine(); }
inline NTSTATUS nt(engine::Status s) { return static_cast<NTSTATUS>(s); }

inline engine::Guid toGuid(const GUID& g) {
  engine::Guid out;
  std::memcpy(out.bytes.data(), &g, 16);
  return out;
}
inline GUID fromGuid(const engine::Guid& g) {
  GUID out;
  std::memcpy(&out, g.bytes.data(), 16);
  return out;
}

inline uint64_t handleValue(HANDLE h) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(h)); }
inline HANDLE toHandle(uint64_t v) { return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(v)); }

// SOCKADDR_STORAGE (Windows layout, port and address in network byte order) <-> Endpoint.
bool endpointFromSockaddr(const SOCKADDR_STORAGE& ss, Endpoint& out);
void sockaddrFromEndpoint(const Endpoint& ep, SOCKADDR_STORAGE& out);

// FWP_CONDITION_VALUE0 / FWP_VALUE0 -> engine value. Returns a failure status for NULL pointers
// or unsupported types.
engine::Status valueFromAbi(const FWP_CONDITION_VALUE0& in, engine::Value& out, engine::Value& high);
engine::Status valueFromAbi(const FWP_VALUE0& in, engine::Value& out);

std::wstring wideOrEmpty(const wchar_t* s);
engine::DisplayData displayFromAbi(const FWPM_DISPLAY_DATA0& d);
std::vector<uint8_t> blobFromAbi(const FWP_BYTE_BLOB& b);

// Sizes, then fills, a block laid out with alignment; the whole block is freed by one free().
class Packer {
 public:
  explicit Packer(uint8_t* base) : base_(base) {}
  template <typename T>
  T* alloc(size_t n = 1) {
    off_ = (off_ + alignof(T) - 1) & ~(alignof(T) - 1);
    T* p = base_ ? reinterpret_cast<T*>(base_ + off_) : nullptr;
    off_ += sizeof(T) * n;
    if (p) std::memset(static_cast<void*>(p), 0, sizeof(T) * n);
    return p;
  }
  size_t size() const { return off_; }
  bool measuring() const { return base_ == nullptr; }

 private:
  uint8_t* base_;
  size_t off_ = 0;
};

// Runs fill(packer) once to measure and once to fill a malloc'ed block; returns the block.
template <typename Fill>
void* packed(Fill&& fill) {
  Packer measure(nullptr);
  fill(measure);
  size_t size = measure.size() ? measure.size() : 1;
  auto* block = static_cast<uint8_t*>(std::malloc(size));
  if (!block) return nullptr;
  Packer real(block);
  fill(real);
  return block;
}

wchar_t* packString(Packer& p, const std::wstring& s);
// Drops the callout/provider/sublayer enumeration handles of a session (fwpm_lookups.cpp).
void dropObjectEnums(uint64_t session);
// Writes an FWPM_FILTER0 describing f into the packer (pointers into the same block).
void packFilter(Packer& p, FWPM_FILTER0* out, const engine::Filter& f);

// ---- run-time views ---------------------------------------------------------------------------

// Owns FWP_CONDITION_VALUE0 / FWP_VALUE0 pointees.
class ValueStore {
 public:
  void toAbi(const engine::Condition& c, FWP_CONDITION_VALUE0& out);

 private:
  std::list<std::vector<uint8_t>> bytes_;
  std::list<FWP_BYTE_BLOB> blobs_;
  std::list<FWP_BYTE_ARRAY16> arrays_;
  std::list<FWP_V4_ADDR_AND_MASK> v4_;
  std::list<FWP_V6_ADDR_AND_MASK> v6_;
  std::list<FWP_RANGE0> ranges_;
  std::list<UINT64> u64_;
  void scalarToAbi(const engine::Value& v, FWP_VALUE0& out);
};

// The FWPS_FILTER3 a callout sees for one filter (FWPS_FILTER0..2 share the layout). `filter` is
// the first member; notifyFn may write filter.context.
struct FilterView {
  FWPS_FILTER3 filter{};
  UINT64 weight = 0;
  std::vector<FWPS_FILTER_CONDITION0> conditions;
  ValueStore store;
};
inline FilterView* viewOf(const engine::Filter& f) { return static_cast<FilterView*>(f.abiView.get()); }

// The WDK structures of one classify, built by the callout wrapper.
struct WritableBuffer {
  uint64_t token = 0;
  bool bind = false;
  FWPS_CONNECT_REQUEST0 connect{};
  FWPS_BIND_REQUEST0 bindReq{};
  FWPS_CONNECT_REQUEST0 connectOriginal{};
  FWPS_BIND_REQUEST0 bindOriginal{};
  std::vector<std::unique_ptr<FWPS_CONNECT_REQUEST0>> connectChain;
  std::vector<std::unique_ptr<FWPS_BIND_REQUEST0>> bindChain;
};

struct ClassifyAbi {
  std::mutex mu;  // guards writables
  uint32_t builtRound = UINT32_MAX;
  std::vector<FWPS_INCOMING_VALUE0> values;
  FWPS_INCOMING_VALUES0 fixed{};
  FWPS_INCOMING_METADATA_VALUES0 meta{};
  std::vector<uint8_t> appId;
  FWP_BYTE_BLOB appIdBlob{};
  FWP_BYTE_ARRAY16 localV6{}, remoteV6{};
  SOCKADDR_STORAGE originalDestination{};
  std::list<std::unique_ptr<WritableBuffer>> writables;
};
std::shared_ptr<ClassifyAbi> abiOf(engine::Classify& c);

}  // namespace openwfp::kapi

// Wraps a C ABI body: C++ exceptions never cross the ABI.
#define OPENWFP_KAPI_GUARD_BEGIN try {
#define OPENWFP_KAPI_GUARD_END(onError)          \
  }                                              \
  catch (const std::bad_alloc&) {                \
    return STATUS_INSUFFICIENT_RESOURCES;        \
  }                                              \
  catch (...) {                                  \
    return onError;                              \
  }
