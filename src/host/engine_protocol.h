// host/engine_protocol.h - the engine service's own operations (service kServiceEngine of the
// control channel, docs/control-channel.md "Service calls"): payloads are JSON objects, replies
// carry an errno-style status (0, EACCES, ENOENT, EINVAL, ETIMEDOUT, ...) and a JSON object whose
// "error" member, when present, is the one line to show.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace openwfp::host::engine_ops {

enum Op : uint32_t {
  Hello = 1,         // {} -> {pid, uid, socket, version, started}
  DriverLoad = 2,    // {path} -> {name} | {error, leaks[]}
  DriverUnload = 3,  // {name} -> {leaks[]}
  DriverList = 4,    // {} -> {drivers: [{name, path}]}
  Attach = 5,        // {root, command, group, argv[]} + the seccomp listener -> {session}
  ShowState = 6,     // {json: bool} -> {text} or the state object
  WaitDevice = 7,    // {device, timeoutMs} -> {} once a process holds an IOCTL pended on it
  PolicyLoad = 8,    // {path} -> {rules, filters[]} (docs/policy.md)
  PolicyUnload = 9,  // {} -> {}
  ShowObjects = 10,  // {kind: filters|callouts|providers|sublayers, json} -> {text}
};

inline std::vector<uint8_t> encode(const nlohmann::json& j) {
  const std::string s = j.dump();
  return {s.begin(), s.end()};
}

inline std::optional<nlohmann::json> decode(std::span<const uint8_t> bytes) {
  auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

}  // namespace openwfp::host::engine_ops
