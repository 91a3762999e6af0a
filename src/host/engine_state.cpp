// host/engine_state.cpp - the engine service's state view (engine_state.h).
#include "host/engine_state.h"

#include <unistd.h>

#include <fmt/format.h>

#include <ctime>
#include <map>

#include "engine/engine.h"
#include "km/device_io.h"
#include "openwfp/openwfp.h"

namespace openwfp::host {

using nlohmann::json;

namespace {

std::string isoTime(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

json engineState(const EngineStateInputs& in) {
  engine::Engine& eng = Runtime::current().engine();
  json s;
  const auto now = std::chrono::system_clock::now();
  s["engine"] = {{"pid", ::getpid()},
                 {"uid", ::geteuid()},
                 {"socket", in.socket},
                 {"started", isoTime(in.started)},
                 {"uptimeSeconds", std::chrono::duration_cast<std::chrono::seconds>(now - in.started).count()}};
  s["drivers"] = in.drivers;
  json callouts = json::array();
  for (const auto& reg : eng.registeredCallouts()) {
    callouts.push_back({{"id", reg->id}, {"key", reg->key.str()}, {"driver", reg->owner}, {"version", reg->version},
                        {"flags", reg->flags}});
  }
  s["callouts"] = callouts;
  json sessions = json::array();
  json totals = {{"notifications", 0}, {"continued", 0}, {"redirected", 0}, {"blocked", 0},
                 {"failed", 0},        {"stale", 0},     {"pended", 0}};
  for (const auto& si : in.sessions) {
    json counters = {{"notifications", si.stats.notifications}, {"continued", si.stats.continued},
                     {"redirected", si.stats.redirected},       {"blocked", si.stats.blocked},
                     {"failed", si.stats.failed},               {"stale", si.stats.stale},
                     {"pended", si.stats.pended}};
    for (auto& [k, v] : counters.items()) totals[k] = totals[k].get<uint64_t>() + v.get<uint64_t>();
    sessions.push_back({{"id", si.id},
                        {"pid", si.command},
                        {"supervisor", si.client},
                        {"command", si.commandLine},
                        {"attached", isoTime(si.attached)},
                        {"counters", counters}});
  }
  s["sessions"] = sessions;
  json devices = json::array();
  for (const auto& f : km::device::openFiles()) {
    devices.push_back({{"path", f.path}, {"openedBy", f.openerPid}, {"pendedIrps", f.pendedIrps}});
  }
  s["devices"] = devices;
  json classifies = json::array();
  size_t pended = 0;
  for (const auto& h : eng.heldClassifies()) {
    pended += h.pended ? 1 : 0;
    classifies.push_back({{"handle", h.handle},
                          {"classify", h.classifyId},
                          {"layer", h.layer},
                          {"driver", h.owner},
                          {"pended", h.pended},
                          {"ageMs", h.age.count()},
                          {"pendedMs", h.pendedFor.count()},
                          {"releasedByDriver", h.driverReleased}});
  }
  s["classifies"] = classifies;
  totals["pendedNow"] = pended;
  s["counters"] = totals;
  return s;
}

std::string renderEngineState(const json& s) {
  std::string out;
  const json& e = s["engine"];
  out += fmt::format("engine    pid {}  uid {}  socket {}  up {} s (since {})\n", e.value("pid", 0),
                     e.value("uid", 0), e.value("socket", ""), e.value("uptimeSeconds", 0), e.value("started", ""));
  out += fmt::format("\ndrivers ({})\n", s["drivers"].size());
  for (const auto& d : s["drivers"]) out += fmt::format("  {:<24} {}\n", d.value("name", ""), d.value("path", ""));
  out += fmt::format("\ncallouts registered ({})\n", s["callouts"].size());
  for (const auto& c : s["callouts"]) {
    out += fmt::format("  id {:<6} {}  driver {}  FwpsCalloutRegister{}\n", c.value("id", 0), c.value("key", ""),
                       c.value("driver", ""), c.value("version", 0));
  }
  out += fmt::format("\nsessions attached ({})\n", s["sessions"].size());
  for (const auto& x : s["sessions"]) {
    const json& k = x["counters"];
    out += fmt::format("  #{:<3} pid {:<7} {}  (since {})\n", x.value("id", 0), x.value("pid", 0),
                       x.value("command", ""), x.value("attached", ""));
    out += fmt::format("        calls {}  redirected {}  blocked {}  pended {}  failed {}\n",
                       k.value("notifications", 0), k.value("redirected", 0), k.value("blocked", 0),
                       k.value("pended", 0), k.value("failed", 0));
  }
  // People read one line per (device, opener); JSON keeps one entry per handle.
  std::map<std::pair<std::string, uint64_t>, std::pair<unsigned, uint64_t>> opens;
  for (const auto& d : s["devices"]) {
    auto& o = opens[{d.value("path", ""), d.value("openedBy", uint64_t{0})}];
    ++o.first;
    o.second += d.value("pendedIrps", uint64_t{0});
  }
  out += fmt::format("\ndevices open ({} handle(s))\n", s["devices"].size());
  for (const auto& [k, v] : opens) {
    out += fmt::format("  {:<32} opened by pid {:<7} {} handle(s), {} IRP(s) pended\n", k.first, k.second, v.first,
                       v.second);
  }
  out += fmt::format("\nclassify handles held ({})\n", s["classifies"].size());
  for (const auto& c : s["classifies"]) {
    out += fmt::format("  handle {:#x}  classify {}  {}  driver {}  {}\n", c.value("handle", 0), c.value("classify", 0),
                       c.value("layer", ""), c.value("driver", ""),
                       c.value("pended", false) ? fmt::format("pended {} ms", c.value("pendedMs", 0))
                                                : fmt::format("held {} ms", c.value("ageMs", 0)));
  }
  const json& t = s["counters"];
  out += fmt::format("\nverdicts  calls {}  redirected {}  blocked {}  pended {} (now {})  failed closed {}\n",
                     t.value("notifications", 0), t.value("redirected", 0), t.value("blocked", 0),
                     t.value("pended", 0), t.value("pendedNow", 0), t.value("failed", 0));
  return out;
}

}  // namespace openwfp::host
