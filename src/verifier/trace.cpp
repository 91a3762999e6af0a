// verifier/trace.cpp - classify records as readable text and JSON lines, and the tracer that
// keeps the recent ones (S4.5, S11.3).
#include "openwfp/trace.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>

namespace openwfp::trace {
namespace {

// Milliseconds from the classify start to t, when both are known.
std::optional<double> msSinceStart(const ClassifyRecord& r, int64_t t) {
  if (r.startNs == 0 || t == 0) return std::nullopt;
  return static_cast<double>(t - r.startNs) / 1e6;
}

std::optional<double> msBetween(int64_t from, int64_t to) {
  if (from == 0 || to == 0) return std::nullopt;
  return static_cast<double>(to - from) / 1e6;
}

std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

nlohmann::ordered_json msJson(std::optional<double> v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::string ClassifyRecord::toText() const {
  std::string out;
  auto line = [&out](std::string_view label, const std::string& text) {
    out += fmt::format("  {:<9}{}\n", label, text);
  };
  out += fmt::format("classify #{} {}\n", id, orDash(layer));
  line("process", fmt::format("pid {} uid {} app {}", pid, uid, orDash(app)));
  line("tuple", fmt::format("{} {} -> {}", orDash(protocol), orDash(local), orDash(remote)));
  if (!flags.empty()) line("flags", fmt::format("{}", fmt::join(flags, " ")));
  if (!redirectState.empty()) line("records", redirectState);
  if (filters.empty()) line("filter", "(no filter matched)");
  for (const auto& f : filters) {
    std::string text = fmt::format("#{}", f.filterId);
    if (!f.filterName.empty()) text += fmt::format(" \"{}\"", f.filterName);
    text += fmt::format(" sublayer-weight {} weight 0x{:x} {}", f.subLayerWeight, f.weight, orDash(f.kind));
    if (!f.callout.empty()) text += (f.kind == "callout" ? " " : " callout ") + f.callout;
    text += " -> " + orDash(f.result);
    if (!f.note.empty()) text += " (" + f.note + ")";
    line("filter", text);
  }
  for (const auto& m : modifications) line("modified", fmt::format("by filter #{}: {}", m.filterId, m.what));
  if (pendNs != 0) {
    std::string text = fmt::format("at +{:.3f} ms", msSinceStart(*this, pendNs).value_or(0.0));
    if (completeNs != 0) {
      text += fmt::format(", completed at +{:.3f} ms (held {:.3f} ms)",
                          msSinceStart(*this, completeNs).value_or(0.0),
                          msBetween(pendNs, completeNs).value_or(0.0));
    } else {
      text += ", not completed";
    }
    line("pend", text);
  }
  if (auto total = msBetween(startNs, endNs)) line("total", fmt::format("{:.3f} ms", *total));
  if (!redirectState.empty()) line("records", redirectState);
  line("verdict", fmt::format("{} final destination {}", orDash(verdict), orDash(finalDestination)));
  for (const auto& reason : reasons) line("reason", reason);
  return out;
}

std::string ClassifyRecord::toJsonLine() const {
  nlohmann::ordered_json j;
  j["id"] = id;
  j["layer"] = layer;
  j["process"] = {{"pid", pid}, {"app", app}, {"uid", uid}};
  j["protocol"] = protocol;
  j["local"] = local;
  j["remote"] = remote;
  j["flags"] = flags;
  auto filtersJson = nlohmann::ordered_json::array();
  for (const auto& f : filters) {
    filtersJson.push_back({{"filterId", f.filterId},
                           {"name", f.filterName},
                           {"subLayerWeight", f.subLayerWeight},
                           {"weight", f.weight},
                           {"kind", f.kind},
                           {"callout", f.callout},
                           {"result", f.result},
                           {"note", f.note}});
  }
  j["filters"] = std::move(filtersJson);
  auto modsJson = nlohmann::ordered_json::array();
  for (const auto& m : modifications) modsJson.push_back({{"filterId", m.filterId}, {"what", m.what}});
  j["modifications"] = std::move(modsJson);
  j["redirectState"] = redirectState;
  j["times"] = {{"startNs", startNs},
                {"pendNs", pendNs},
                {"completeNs", completeNs},
                {"endNs", endNs},
                {"pendMs", msJson(msSinceStart(*this, pendNs))},
                {"completeMs", msJson(msSinceStart(*this, completeNs))},
                {"pendedMs", msJson(msBetween(pendNs, completeNs))},
                {"totalMs", msJson(msBetween(startNs, endNs))}};
  j["verdict"] = verdict;
  j["finalDestination"] = finalDestination;
  j["redirectState"] = redirectState;
  j["reasons"] = reasons;
  // Compact (no indent) output never contains a newline: strings escape control characters.
  // Invalid UTF-8 (an odd image path) is replaced instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void Tracer::addSink(Sink s) {
  std::lock_guard lock(mu_);
  sinks_.push_back(std::move(s));
}

void Tracer::clearSinks() {
  std::lock_guard lock(mu_);
  sinks_.clear();
}

void Tracer::emit(const ClassifyRecord& r) {
  std::vector<Sink> sinks;
  {
    std::lock_guard lock(mu_);
    if (recent_.size() < kRecentCapacity) {
      recent_.push_back(r);
    } else {
      recent_[next_] = r;
      next_ = (next_ + 1) % kRecentCapacity;
    }
    sinks = sinks_;  // sinks run outside the lock (they may call recent())
  }
  for (const auto& s : sinks) s(r);
}

std::vector<ClassifyRecord> Tracer::recent() const {
  std::lock_guard lock(mu_);
  std::vector<ClassifyRecord> out;
  out.reserve(recent_.size());
  // Oldest first: once the ring is full, the oldest record sits at next_.
  for (size_t i = 0; i < recent_.size(); ++i) out.push_back(recent_[(next_ + i) % recent_.size()]);
  return out;
}

void Tracer::clear() {
  std::lock_guard lock(mu_);
  recent_.clear();
  next_ = 0;
}

}  // namespace openwfp::trace
