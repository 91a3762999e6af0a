// redirect/records.cpp - sealing and opening SIO-format redirect records (S8.7, S8.8, S12.2).
// The byte layout is documented in docs/records-format.md; keep both in step.
#include "redirect/records.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "redirect/mac_memo.h"
#include "redirect/wire.h"

namespace openwfp::redirect {
namespace {

constexpr uint8_t kMagic[4] = {'O', 'W', 'F', 'R'};

// Field offsets inside the header and inside one entry.
constexpr size_t kOffVersion = 4;
constexpr size_t kOffCount = 6;
constexpr size_t kOffInstance = 8;
constexpr size_t kOffHistory = 16;
constexpr size_t kEntHandle = 0;
constexpr size_t kEntPid = 8;
constexpr size_t kEntOriginal = 12;
constexpr size_t kEntRedirected = kEntOriginal + wire::kEndpointSize;
static_assert(kEntRedirected + wire::kEndpointSize == RecordsSealer::kEntrySize);
static_assert(RecordsSealer::kMacSize == crypto_auth_BYTES);
static_assert(crypto_auth_hmacsha512256_BYTES == crypto_auth_BYTES);
static_assert(sizeof(std::array<uint8_t, 32>) == crypto_auth_KEYBYTES);
static_assert(RecordsSealer::kMaxEntries <= 0xffff);

using Memo = MacMemo<RecordsSealer::sizeFor(RecordsSealer::kMaxEntries) - RecordsSealer::kMacSize,
                     RecordsSealer::kMacSize>;

void initSodiumOnce() {
  static const int status = sodium_init();  // magic static: runs once, thread-safe
  if (status < 0) throw std::runtime_error("libsodium initialisation failed");
}

void putEntry(uint8_t* p, const Entry& e) {
  wire::putU64(p + kEntHandle, e.redirectHandle);
  wire::putU32(p + kEntPid, e.targetPid);
  wire::putEndpoint(p + kEntOriginal, e.originalDestination);
  wire::putEndpoint(p + kEntRedirected, e.redirectedTo);
}

bool getEntry(const uint8_t* p, Entry& e) {
  e.redirectHandle = wire::getU64(p + kEntHandle);
  e.targetPid = wire::getU32(p + kEntPid);
  return e.redirectHandle != 0 && wire::getEndpoint(p + kEntOriginal, e.originalDestination) &&
         wire::getEndpoint(p + kEntRedirected, e.redirectedTo);
}

// The live history still is the one the records describe: the sealed entries' handles are the
// oldest entries' handles of the live one (entries added since are fine, S8.8).
bool stillMatches(const History& live, const std::vector<Entry>& snapshot) {
  const std::vector<Entry> now = live.entries();
  if (now.size() < snapshot.size()) return false;
  for (size_t i = 0; i < snapshot.size(); ++i) {
    if (now[i].redirectHandle != snapshot[i].redirectHandle) return false;
  }
  return true;
}

}  // namespace

struct RecordsSealer::MacState {
  crypto_auth_hmacsha512256_state state;
};

const char* toString(OpenError e) {
  switch (e) {
    case OpenError::None: return "none";
    case OpenError::Truncated: return "truncated";
    case OpenError::BadMagic: return "bad magic";
    case OpenError::BadVersion: return "unsupported version";
    case OpenError::BadMac: return "bad MAC (altered, forged or from another engine)";
    case OpenError::Malformed: return "malformed";
  }
  return "unknown";
}

RecordsSealer::RecordsSealer() : macState_(std::make_unique<MacState>()) {
  initSodiumOnce();
  crypto_auth_keygen(key_.data());
  randombytes_buf(&instance_, sizeof instance_);
  crypto_auth_hmacsha512256_init(&macState_->state, key_.data(), key_.size());
}

RecordsSealer::~RecordsSealer() {
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(&macState_->state, sizeof macState_->state);
}

void RecordsSealer::mac(std::span<const uint8_t> body, uint8_t* out) const {
  // Same result as crypto_auth(out, body, key): HMAC with the key's pads already absorbed.
  crypto_auth_hmacsha512256_state st = macState_->state;
  crypto_auth_hmacsha512256_update(&st, body.data(), body.size());
  crypto_auth_hmacsha512256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

void RecordsSealer::track(const std::shared_ptr<History>& history) {
  if (!history) return;
  std::lock_guard lock(mu_);
  if (live_.size() >= sweepAt_) {
    std::erase_if(live_, [](const auto& kv) { return kv.second.expired(); });
    sweepAt_ = std::max<size_t>(64, 2 * live_.size());
  }
  live_[history->id()] = history;
}

size_t RecordsSealer::sealedSize(const History& history) const {
  const size_t n = history.entryCount();
  return n > kMaxEntries ? 0 : sizeFor(n);
}

size_t RecordsSealer::seal(const History& history, std::span<uint8_t> out) const {
  // One snapshot, taken newest first and laid out back to front so the entries end up oldest
  // first; no Entry copies, no allocation.
  std::array<uint8_t, kMaxEntries * kEntrySize> entries;
  size_t n = 0;
  history.visitNewestFirst([&](const Entry& e) {
    if (n == kMaxEntries) {
      ++n;  // one too many: cannot be sealed
      return false;
    }
    ++n;
    putEntry(entries.data() + (kMaxEntries - n) * kEntrySize, e);
    return true;
  });
  if (n > kMaxEntries) return 0;
  const size_t size = sizeFor(n);
  if (out.size() < size) return 0;

  uint8_t* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  wire::putU16(p + kOffVersion, kVersion);
  wire::putU16(p + kOffCount, static_cast<uint16_t>(n));
  wire::putU64(p + kOffInstance, instance_);
  wire::putU64(p + kOffHistory, history.id());
  std::memcpy(p + kHeaderSize, entries.data() + (kMaxEntries - n) * kEntrySize, n * kEntrySize);
  const std::span<const uint8_t> body(p, size - kMacSize);
  if (!Memo::lookup(this, history.id(), body, p + body.size())) {
    mac(body, p + body.size());
    Memo::store(this, history.id(), body, p + body.size());
  }
  return size;
}

std::vector<uint8_t> RecordsSealer::seal(const History& history) const {
  std::vector<uint8_t> out(sizeFor(kMaxEntries));
  out.resize(seal(history, out));
  return out;
}

void RecordsSealer::resealForTesting(std::span<uint8_t> blob) const {
  if (blob.size() < kMacSize) return;
  mac(blob.first(blob.size() - kMacSize), blob.data() + blob.size() - kMacSize);
}

std::shared_ptr<History> RecordsSealer::open(std::span<const uint8_t> blob, OpenError* error) const {
  auto fail = [error](OpenError e) -> std::shared_ptr<History> {
    if (error != nullptr) *error = e;
    return nullptr;
  };
  // 1. Structure, cheapest checks first; the version is refused before the MAC is looked at.
  if (blob.size() < kHeaderSize + kMacSize) return fail(OpenError::Truncated);
  const uint8_t* p = blob.data();
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) return fail(OpenError::BadMagic);
  if (wire::getU16(p + kOffVersion) != kVersion) return fail(OpenError::BadVersion);
  const size_t count = wire::getU16(p + kOffCount);
  if (count > kMaxEntries) return fail(OpenError::Malformed);
  const size_t size = sizeFor(count);
  if (blob.size() < size) return fail(OpenError::Truncated);
  if (blob.size() > size) return fail(OpenError::Malformed);

  // 2. Authenticity (constant-time compare inside libsodium).
  if (crypto_auth_verify(p + size - kMacSize, p, size - kMacSize, key_.data()) != 0) {
    return fail(OpenError::BadMac);
  }
  // Unreachable with a per-instance key, but never trust a foreign instance id.
  if (wire::getU64(p + kOffInstance) != instance_) return fail(OpenError::BadMac);

  // 3. Contents (only reachable with our own MAC: defence in depth).
  const uint64_t historyId = wire::getU64(p + kOffHistory);
  if (historyId == 0) return fail(OpenError::Malformed);
  std::vector<Entry> snapshot(count);
  for (size_t i = 0; i < count; ++i) {
    if (!getEntry(p + kHeaderSize + i * kEntrySize, snapshot[i])) return fail(OpenError::Malformed);
  }

  // 4. The live history when it is still around and still the same, else a detached copy.
  std::shared_ptr<History> live;
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(historyId);
    if (it != live_.end()) live = it->second.lock();
  }
  if (error != nullptr) *error = OpenError::None;
  if (live && stillMatches(*live, snapshot)) return live;
  std::shared_ptr<History> detached = History::create();
  for (Entry& e : snapshot) detached->add(std::move(e), ContextFree{});
  return detached;
}

}  // namespace openwfp::redirect
