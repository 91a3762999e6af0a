#include "host/policy_session.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "engine/engine.h"
#include "engine/layers.h"
#include "host/shipped_drivers.h"
#include "km/device_io.h"
#include "openwfp/openwfp.h"
#include "openwfp/policy_channel.h"
#include "proxy/verify_proxy.h"

namespace openwfp::host {

namespace {

constexpr const char* kDriverName = "policy";

std::string statusLine(int32_t status) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "0x%08X (%s)", static_cast<unsigned>(status),
                std::strerror(km::device::errnoFromStatus(status)));
  return buf;
}

// One IOCTL to the policy device, from this process.
std::string sendToDriver(uint32_t code, const std::vector<uint8_t>& in) {
  int32_t status = 0;
  const uint64_t pid = static_cast<uint64_t>(getpid());
  auto file = km::device::open(POLICY_USER_PATH, pid, status);
  if (!file) return "cannot open the policy driver's device " + std::string(POLICY_USER_PATH) + ": " + statusLine(status);
  auto r = km::device::ioctlSync(file, code, in, 0, pid);
  km::device::close(file, pid);
  if (r.status != 0) return "the policy driver refused the rules: " + statusLine(r.status);
  return "";
}

std::string utf8(const std::vector<uint8_t>& wideBlob) {
  std::string out;
  for (size_t i = 0; i + sizeof(wchar_t) <= wideBlob.size(); i += sizeof(wchar_t)) {
    wchar_t c;
    std::memcpy(&c, wideBlob.data() + i, sizeof c);
    if (c == 0) break;
    const auto cp = static_cast<uint32_t>(c);
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

std::string conditionText(const engine::Condition& c) {
  using engine::Field;
  using engine::MatchType;
  policy::Prefix p;
  switch (c.field) {
    case Field::AppId:
      return std::string("app ") + (c.match == MatchType::Prefix ? "starts with " : "== ") + "\"" + utf8(c.value.blob) + "\"";
    case Field::UserId: return "uid == " + std::to_string(c.value.number);
    case Field::RemoteAddress:
      if (c.value.type == engine::DataType::V4AddrMask || c.value.type == engine::DataType::Uint32) {
        p.family = 4;
        const uint32_t a = static_cast<uint32_t>(c.value.number);
        p.addr = {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16), static_cast<uint8_t>(a >> 8),
                  static_cast<uint8_t>(a)};
        const uint32_t m = c.value.type == engine::DataType::V4AddrMask ? c.value.mask : 0xFFFFFFFFu;
        p.length = static_cast<uint8_t>(__builtin_popcount(m));
      } else {
        p.family = 6;
        p.addr = c.value.bytes;
        p.length = c.value.type == engine::DataType::V6AddrMask ? c.value.prefixLength : 128;
      }
      return "remote address in " + p.str() + (p.length == (p.family == 4 ? 32 : 128) ? "/" + std::to_string(p.length) : std::string());
    case Field::RemotePort:
      if (c.match == MatchType::Range)
        return "remote port in " + std::to_string(c.value.number) + "-" + std::to_string(c.high.number);
      return "remote port == " + std::to_string(c.value.number);
    case Field::Protocol:
      return std::string("protocol == ") + (c.value.number == 6 ? "tcp" : c.value.number == 17 ? "udp" : std::to_string(c.value.number));
    default: return std::string(engine::toString(c.field));
  }
}

std::string actionText(const policy::Rule& r) {
  std::string app = r.app ? "; the callout checks app glob \"" + *r.app + "\" (no match: CONTINUE)" : "";
  switch (r.action) {
    case policy::ActionKind::Permit: return "callout: PERMIT" + app;
    case policy::ActionKind::Block:
      return "callout: BLOCK, errno " + (r.blockErrno ? policy::errnoName(r.blockErrno) : std::string("of the session")) + app;
    case policy::ActionKind::Redirect: return "callout: redirect to " + r.redirect.str() + app;
    case policy::ActionKind::Proxy:
      return "callout: pend, redirect to the built-in proxy, upstream " + r.upstream.str() +
             " (verify-before-accept)" + app;
  }
  return "callout";
}

}  // namespace

std::string policyDriverPath() {
  if (const char* env = std::getenv("OPENWFP_POLICY_DRIVER"); env != nullptr && *env) return env;
  return shippedDriverPath("policy.so");
}

std::string loadPolicy(DriverHost& drivers, const policy::Policy& rules, const std::string& driverPath) {
  std::string why;
  auto blob = policy::encode(rules, &why);
  if (blob.empty()) return why;
  const auto loaded = drivers.loaded();
  if (std::find(loaded.begin(), loaded.end(), kDriverName) == loaded.end()) {
    auto r = drivers.load(driverPath.empty() ? policyDriverPath() : driverPath);
    if (!r) return "cannot load the policy driver: " + r.error;
  }
  if (auto err = sendToDriver(IOCTL_POLICY_LOAD, blob); !err.empty()) return rules.source + ": " + err;
  return "";
}

std::string loadPolicy(DriverHost& drivers, const std::string& file) {
  auto parsed = policy::parseFile(file);
  if (!parsed) return parsed.error;
  return loadPolicy(drivers, *parsed.policy);
}

std::string unloadPolicy(DriverHost& drivers) {
  const auto loaded = drivers.loaded();
  if (std::find(loaded.begin(), loaded.end(), kDriverName) == loaded.end()) return "no policy is loaded";
  return sendToDriver(IOCTL_POLICY_CLEAR, {});
}

std::vector<std::string> describePolicyFilters(const policy::Policy& rules) {
  auto& eng = Runtime::current().engine();
  std::vector<std::shared_ptr<const engine::Filter>> filters;
  for (engine::LayerId layer : {engine::LayerId::ConnectRedirectV4, engine::LayerId::ConnectRedirectV6}) {
    const engine::Guid key = engine::layerInfo(layer).key;
    for (auto& f : eng.filters(&key)) filters.push_back(f);
  }
  // Evaluation order inside the sublayer: weight descending; V4 before V6 for one rule.
  std::stable_sort(filters.begin(), filters.end(),
                   [](const auto& a, const auto& b) { return a->effectiveWeight > b->effectiveWeight; });
  std::vector<std::string> lines;
  for (const auto& f : filters) {
    const uint64_t index = (f->spec.rawContext & 0xFFFFFFFFu) - 1;
    if (index >= rules.rules.size()) continue;  // not a rule filter of this policy
    const policy::Rule& r = rules.rules[index];
    std::string conds;
    for (const auto& c : f->spec.conditions) conds += (conds.empty() ? "" : " and ") + conditionText(c);
    if (conds.empty()) conds = "any connection";
    lines.push_back("rule " + std::to_string(index + 1) + " (line " + std::to_string(r.line) + "): " +
                    std::string(f->layer->name) + " weight " + std::to_string(f->effectiveWeight) + ": " + conds +
                    " -> " + actionText(r));
  }
  return lines;
}

std::string startPolicy(DriverHost& drivers, const std::string& file, const std::string& controlSocket,
                        PolicyProxy& proxy, bool handOff) {
  auto parsed = policy::parseFile(file);
  if (!parsed) return parsed.error;
  if (auto err = loadPolicy(drivers, *parsed.policy); !err.empty()) return err;
  if (!parsed.policy->hasProxyRules()) return "";
  if (auto err = proxy.start(controlSocket, handOff); !err.empty()) return file + ": the built-in proxy: " + err;
  return "";
}

struct PolicyProxy::Impl {
  std::unique_ptr<proxy::VerifyProxy> proxy;
};

PolicyProxy::PolicyProxy() : impl_(std::make_unique<Impl>()) {}
PolicyProxy::~PolicyProxy() { stop(); }

std::string PolicyProxy::start(const std::string& controlSocket, bool handOff) {
  // The proxy's socket controls (the accepted connection's redirect context) and its device
  // calls go through the session's control channel, as for a proxy started outside the tree.
  setenv("OPENWFP_SOCKET", controlSocket.c_str(), 1);
  proxy::VerifyProxyOptions o;
  o.device = POLICY_USER_PATH;
  o.policyRequests = true;
  o.setRecords = false;  // this process is not supervised: its connects are not classified
  o.handOff = handOff;
  o.localDevice = true;  // the policy driver is in this process
  o.log = [](const std::string& line) {
    if (line.find("-> PERMIT") != std::string::npos || line.find("listening on") != std::string::npos) {
      spdlog::debug("{}", line);
    } else {
      spdlog::info("{}", line);
    }
  };
  impl_->proxy = std::make_unique<proxy::VerifyProxy>(o);
  std::string err = impl_->proxy->start();
  if (!err.empty()) impl_->proxy.reset();
  return err;
}

void PolicyProxy::stop() {
  if (impl_ && impl_->proxy) {
    impl_->proxy->stop();
    impl_->proxy.reset();
  }
}

}  // namespace openwfp::host
