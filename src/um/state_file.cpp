// um/state_file.cpp - persistence of the management objects (SPEC S14.5;
// docs/management-api.md "What persists"): the persistent providers, sublayers, callouts and
// filters that non-dynamic sessions added are written to <stateDir>/objects.bin after every
// change to that set (outside a transaction) and at commit - temp file, fsync, rename, fsync of
// the directory - and added back by restore() at engine start.
//
// File: "OWFPOBJ1", u32 version (1), u32 count, count x (u8 kind, u32 length, the object in the
// wire codec), u64 FNV-1a of everything before it. Anything else is corrupt: the file is renamed
// objects.bin.corrupt-<unix time> and the engine starts empty.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "um/codec.h"
#include "um/names.h"
#include "um/server_state.h"

namespace openwfp::um {

namespace {

constexpr char kMagic[8] = {'O', 'W', 'F', 'P', 'O', 'B', 'J', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kMaxFile = 256u << 20;
const Kind kOrder[] = {Kind::Provider, Kind::SubLayer, Kind::Callout, Kind::Filter};

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

const char* kindName(Kind k) {
  switch (k) {
    case Kind::Provider: return "provider";
    case Kind::SubLayer: return "sublayer";
    case Kind::Callout: return "callout";
    case Kind::Filter: return "filter";
  }
  return "object";
}

std::string errnoText(const char* step, const std::string& path) {
  return std::string(step) + " " + path + ": " + std::strerror(errno);
}

bool writeAll(int fd, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Writes bytes to dir/name crash-safe; nullopt or what failed.
std::optional<std::string> writeAtomically(const std::string& dir, const std::string& name,
                                           const std::vector<uint8_t>& bytes) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errnoText("mkdir", dir);
  std::string tmp = dir + "/" + name + ".tmp", final = dir + "/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errnoText("open", tmp);
  bool ok = writeAll(fd, bytes.data(), bytes.size()) && ::fsync(fd) == 0;
  std::string err = ok ? "" : errnoText("write", tmp);
  ::close(fd);
  if (!ok) return err;
  if (::rename(tmp.c_str(), final.c_str()) != 0) return errnoText("rename", tmp);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errnoText("open", dir);
  bool synced = ::fsync(dfd) == 0;
  ::close(dfd);
  if (!synced) return errnoText("fsync", dir);
  return std::nullopt;
}

template <Kind K>
bool encodeByKey(HANDLE session, const GUID& key, Writer& w) {
  using Abi = typename KindOf<K>::Abi;
  Abi* obj = nullptr;
  NTSTATUS st;
  if constexpr (K == Kind::Provider) st = FwpmProviderGetByKey0(session, &key, &obj);
  else if constexpr (K == Kind::SubLayer) st = FwpmSubLayerGetByKey0(session, &key, &obj);
  else if constexpr (K == Kind::Callout) st = FwpmCalloutGetByKey0(session, &key, &obj);
  else st = FwpmFilterGetByKey0(session, &key, &obj);
  if (st != STATUS_SUCCESS) return false;  // deleted by someone else (e.g. a driver)
  encode(w, *obj);
  FwpmFreeMemory0(reinterpret_cast<void**>(&obj));
  return true;
}

bool encodeAny(Kind k, HANDLE session, const GUID& key, Writer& w) {
  switch (k) {
    case Kind::Provider: return encodeByKey<Kind::Provider>(session, key, w);
    case Kind::SubLayer: return encodeByKey<Kind::SubLayer>(session, key, w);
    case Kind::Callout: return encodeByKey<Kind::Callout>(session, key, w);
    case Kind::Filter: return encodeByKey<Kind::Filter>(session, key, w);
  }
  return false;
}

// One record read back: its kind and the decoded object (a malloc'ed block).
struct Record {
  Kind kind;
  std::unique_ptr<void, decltype(&std::free)> object{nullptr, &std::free};
};

void* decodeAny(Kind k, std::span<const uint8_t> bytes) {
  switch (k) {
    case Kind::Provider: return decodeObject<FWPM_PROVIDER0>(bytes);
    case Kind::SubLayer: return decodeObject<FWPM_SUBLAYER0>(bytes);
    case Kind::Callout: return decodeObject<FWPM_CALLOUT0>(bytes);
    case Kind::Filter: return decodeObject<FWPM_FILTER0>(bytes);
  }
  return nullptr;
}

// Parses the whole file; the records, or why it is corrupt.
std::optional<std::string> parse(const std::vector<uint8_t>& file, std::vector<Record>& out) {
  if (file.size() < sizeof kMagic + 8 + 8) return "too short";
  if (std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) return "bad magic";
  size_t body = file.size() - 8;
  Reader tail(std::span<const uint8_t>(file).subspan(body));
  if (tail.u64() != fnv1a(file.data(), body)) return "checksum mismatch";
  Reader r(std::span<const uint8_t>(file.data() + sizeof kMagic, body - sizeof kMagic));
  if (r.u32() != kVersion) return "unknown version";
  uint32_t count = r.u32();
  if (!r.countFits(count, 5)) return "bad record count";
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t kind = r.u8();
    uint32_t len = r.u32();
    if (!r.ok() || kind < 1 || kind > 4 || !r.countFits(len, 1)) return "bad record header";
    std::vector<uint8_t> bytes(len);
    r.raw(bytes.data(), len);
    Record rec{static_cast<Kind>(kind)};
    rec.object.reset(decodeAny(rec.kind, bytes));
    if (!rec.object) return std::string("undecodable ") + kindName(rec.kind) + " record";
    out.push_back(std::move(rec));
  }
  if (!r.atEnd()) return "trailing bytes";
  return std::nullopt;
}

NTSTATUS addRecord(HANDLE session, const Record& rec, GUID& key) {
  switch (rec.kind) {
    case Kind::Provider: {
      auto* p = static_cast<FWPM_PROVIDER0*>(rec.object.get());
      key = p->providerKey;
      return FwpmProviderAdd0(session, p, nullptr);
    }
    case Kind::SubLayer: {
      auto* p = static_cast<FWPM_SUBLAYER0*>(rec.object.get());
      key = p->subLayerKey;
      return FwpmSubLayerAdd0(session, p, nullptr);
    }
    case Kind::Callout: {
      auto* p = static_cast<FWPM_CALLOUT0*>(rec.object.get());
      key = p->calloutKey;
      return FwpmCalloutAdd0(session, p, nullptr, nullptr);
    }
    case Kind::Filter: {
      auto* p = static_cast<FWPM_FILTER0*>(rec.object.get());
      key = p->filterKey;
      return FwpmFilterAdd0(session, p, nullptr, nullptr);
    }
  }
  return STATUS_INVALID_PARAMETER;
}

}  // namespace

std::string ManagementService::Impl::statePath() const {
  return options.stateDir.empty() ? std::string() : options.stateDir + "/objects.bin";
}

void ManagementService::Impl::change(SessionState& s, PersistChange c) {
  if (options.stateDir.empty()) return;
  if (s.inTransaction) {
    s.pending.push_back(c);
    return;
  }
  applyAndSave({c});
}

void ManagementService::Impl::commit(SessionState& s) {
  if (!s.pending.empty()) applyAndSave(s.pending);
}

void ManagementService::Impl::applyAndSave(const std::vector<PersistChange>& changes) {
  if (options.stateDir.empty()) return;
  std::lock_guard lock(persistMu);
  bool changed = false;
  for (const auto& c : changes) {
    auto& set = persisted[static_cast<size_t>(c.kind)];
    changed |= c.add ? set.insert(c.key).second : set.erase(c.key) > 0;
  }
  if (!changed) return;
  HANDLE session = nullptr;
  if (FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &session) != STATUS_SUCCESS) {
    spdlog::error("openwfp: state file {} not written: no engine session", statePath());
    return;
  }
  Writer body;
  uint32_t count = 0;
  for (Kind k : kOrder) {
    for (const Key& key : persisted[static_cast<size_t>(k)]) {
      Writer obj;
      if (!encodeAny(k, session, guidOf(key), obj)) continue;
      body.u8(static_cast<uint8_t>(k));
      body.u32(static_cast<uint32_t>(obj.size()));
      body.raw(obj.bytes().data(), obj.size());
      ++count;
    }
  }
  FwpmEngineClose0(session);
  Writer file;
  file.raw(kMagic, sizeof kMagic);
  file.u32(kVersion);
  file.u32(count);
  file.raw(body.bytes().data(), body.size());
  file.u64(fnv1a(file.bytes().data(), file.size()));
  if (auto err = writeAtomically(options.stateDir, "objects.bin", file.bytes()))
    spdlog::error("openwfp: state file not written: {}", *err);
}

std::optional<std::string> ManagementService::Impl::restore() {
  if (options.stateDir.empty()) return std::nullopt;
  std::string path = statePath();
  std::vector<uint8_t> file;
  std::optional<std::string> problem;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;  // nothing saved yet
    problem = std::string("unreadable: ") + std::strerror(errno);
  } else {
    uint8_t buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) problem = std::string("unreadable: ") + std::strerror(errno);
      if (n <= 0) break;
      file.insert(file.end(), buf, buf + n);
      if (file.size() > kMaxFile) {
        problem = "larger than 256 MiB";
        break;
      }
    }
    ::close(fd);
  }
  std::vector<Record> records;
  if (!problem) problem = parse(file, records);

  std::array<std::set<Key>, 5> keys;
  if (!problem) {
    HANDLE session = nullptr;
    NTSTATUS st = FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &session);
    if (st == STATUS_SUCCESS) st = FwpmTransactionBegin0(session, 0);
    for (const Record& rec : records) {
      if (st != STATUS_SUCCESS) break;
      GUID key{};
      st = addRecord(session, rec, key);
      if (st != STATUS_SUCCESS) {
        char code[16];
        std::snprintf(code, sizeof code, "0x%08X", static_cast<uint32_t>(st));
        problem = std::string("adding ") + kindName(rec.kind) + " " + guidString(key) +
                  " failed with " + code;
      }
      keys[static_cast<size_t>(rec.kind)].insert(keyOf(key));
    }
    if (!problem && st != STATUS_SUCCESS) problem = "no engine session for the restore";
    if (!problem && FwpmTransactionCommit0(session) != STATUS_SUCCESS) problem = "commit failed";
    if (problem && session) FwpmTransactionAbort0(session);
    if (session) FwpmEngineClose0(session);
  }
  if (!problem) {
    std::lock_guard lock(persistMu);
    persisted = std::move(keys);
    return std::nullopt;
  }
  std::string base = path + ".corrupt-" + std::to_string(static_cast<long long>(std::time(nullptr)));
  std::string aside = base;
  for (int n = 2; ::access(aside.c_str(), F_OK) == 0 && n < 100; ++n)  // keep earlier ones
    aside = base + "-" + std::to_string(n);
  std::string where = ::rename(path.c_str(), aside.c_str()) == 0
                          ? "set aside as " + aside
                          : "could not be set aside (" + std::string(std::strerror(errno)) + ")";
  return "openwfp: state file " + path + ": " + *problem + "; " + where + "; the engine starts empty";
}

}  // namespace openwfp::um
