// verifier/verifier.cpp - structured violation reports (S11.1) and the per-thread current driver.
#include "verifier/verifier.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace openwfp::verifier {

const char* toString(Code code) {
  switch (code) {
    case Code::AcquireWithoutApply: return "AcquireWithoutApply";
    case Code::ReauthorizeFlagInline: return "ReauthorizeFlagInline";
    case Code::PendWithoutBlock: return "PendWithoutBlock";
    case Code::HandleLeak: return "HandleLeak";
    case Code::ClassifyHandleNotReleased: return "ClassifyHandleNotReleased";
    case Code::UseAfterRelease: return "UseAfterRelease";
    case Code::DoubleComplete: return "DoubleComplete";
    case Code::MisalignedSioBuffer: return "MisalignedSioBuffer";
    case Code::ReadOnlyFieldChanged: return "ReadOnlyFieldChanged";
    case Code::EngineOwnedContextFreed: return "EngineOwnedContextFreed";
    case Code::PendNeverCompleted: return "PendNeverCompleted";
    case Code::PoolLeak: return "PoolLeak";
    case Code::ReauthorizeLimit: return "ReauthorizeLimit";
    case Code::InvalidArgument: return "InvalidArgument";
    case Code::PoolTagMismatch: return "PoolTagMismatch";
    case Code::PoolFreeUnknown: return "PoolFreeUnknown";
    case Code::DriverAssertFailed: return "DriverAssertFailed";
    case Code::KernelApiMisuse: return "KernelApiMisuse";
    case Code::RedirectNotApplied: return "RedirectNotApplied";
    case Code::NotSupported: return "NotSupported";
  }
  return "Unknown";
}

void Verifier::setEnabled(bool on) {
  std::lock_guard lock(mu_);
  enabled_ = on;
}

bool Verifier::enabled() const {
  std::lock_guard lock(mu_);
  return enabled_;
}

// A disabled verifier (no --verifier) is silent: nothing is recorded, logged or sent to
// listeners (openwfp choice: verifier mode off means the user did not ask for these reports).
void Verifier::report(Violation v) {
  std::vector<Listener> listeners;
  {
    std::lock_guard lock(mu_);
    if (!enabled_) return;
    violations_.push_back(v);
    listeners = listeners_;  // called outside the lock: a listener may read the verifier
  }
  spdlog::warn("verifier: {} driver={} callout={} filter={}: {}", toString(v.code),
               v.driver.empty() ? "-" : v.driver, v.callout.empty() ? "-" : v.callout, v.filterId,
               v.message);
  for (const auto& l : listeners) l(v);
}

std::vector<Violation> Verifier::violations() const {
  std::lock_guard lock(mu_);
  return violations_;
}

size_t Verifier::count(Code code) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& v : violations_) n += v.code == code ? 1 : 0;
  return n;
}

void Verifier::clear() {
  std::lock_guard lock(mu_);
  violations_.clear();
}

void Verifier::addListener(Listener l) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(l));
}

namespace {
thread_local std::string tlsCurrentDriver;
}

const std::string& currentDriver() { return tlsCurrentDriver; }

CurrentDriverScope::CurrentDriverScope(std::string driver)
    : previous_(std::exchange(tlsCurrentDriver, std::move(driver))) {}

CurrentDriverScope::~CurrentDriverScope() { tlsCurrentDriver = std::move(previous_); }

namespace {
thread_local DriverNoteScope::Sink tlsNoteSink = nullptr;
thread_local void* tlsNoteContext = nullptr;
}  // namespace

DriverNoteScope::DriverNoteScope(Sink sink, void* context)
    : previousSink_(std::exchange(tlsNoteSink, sink)), previousContext_(std::exchange(tlsNoteContext, context)) {}

DriverNoteScope::~DriverNoteScope() {
  tlsNoteSink = previousSink_;
  tlsNoteContext = previousContext_;
}

void driverNote(const std::string& note) {
  if (tlsNoteSink != nullptr) tlsNoteSink(tlsNoteContext, note);
}

bool driverNoteWanted() { return tlsNoteSink != nullptr; }

}  // namespace openwfp::verifier
