// verifier/verifier.h - structured reports of API misuse by callout drivers (S11.1).
// Pure logic; the C ABI (src/kapi) and the engine report, tests and the CLI read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace openwfp::verifier {

enum class Code {
  AcquireWithoutApply,        // writable layer data acquired, classify ended without Apply
  ReauthorizeFlagInline,      // Apply with REAUTHORIZE_IF_MODIFIED_BY_OTHERS in a non-pended classify
  PendWithoutBlock,           // pended but returned other than BLOCK with the write right cleared
  HandleLeak,                 // redirect handle, callout registration, device, ... left at driver unload
  ClassifyHandleNotReleased,  // classify handle still held at driver unload / flow end
  UseAfterRelease,            // a released / completed / stale handle used
  DoubleComplete,             // FwpsCompleteClassify0 twice
  MisalignedSioBuffer,        // SioFormat output buffer not pointer-aligned (S8.4)
  ReadOnlyFieldChanged,       // Apply changed a field that is not writable (S5.4)
  EngineOwnedContextFreed,    // driver freed a localRedirectContext the engine owns (S5.6)
  PendNeverCompleted,         // pended classify hit its deadline (S6.4)
  PoolLeak,                   // pool allocation still live at driver unload (S11.2)
  ReauthorizeLimit,           // re-authorization rounds exceeded (S5.7)
  InvalidArgument,            // a documented precondition violated (NULL where not allowed, ...)
  PoolTagMismatch,            // ExFreePoolWithTag with a tag other than the allocation's (S11.2)
  PoolFreeUnknown,            // pool free of a pointer that is not live: double free / foreign (S11.2)
  DriverAssertFailed,         // a driver's ASSERT/NT_ASSERT failed (RtlAssert)
  KernelApiMisuse,            // kernel support misuse: spin lock released by non-owner, work item
                              // queued twice or freed while queued, unknown device object, ...
  RedirectNotApplied,         // a callout's redirect the engine did not apply (a local redirect
                              // without localRedirectTargetPID / localRedirectHandle, S5.5)
  NotSupported,               // a WDK function declared for source compatibility that openwfp
                              // does not support was called (packet injection, NBLs; S15.3)
};
const char* toString(Code code);

struct Violation {
  Code code;
  std::string message;
  std::string driver;   // driver name ("" if unknown)
  std::string callout;  // callout key as text ("" if not in a callout)
  uint64_t filterId = 0;
};

class Verifier {
 public:
  using Listener = std::function<void(const Violation&)>;

  void setEnabled(bool on);
  bool enabled() const;
  // Records the violation (when enabled), logs it, and notifies listeners.
  void report(Violation v);
  std::vector<Violation> violations() const;
  size_t count(Code code) const;
  void clear();
  void addListener(Listener l);

 private:
  mutable std::mutex mu_;  // guards everything below
  bool enabled_ = true;
  std::vector<Violation> violations_;
  std::vector<Listener> listeners_;
};

// The driver on whose behalf the current thread runs (set around DriverEntry, DriverUnload,
// classifyFn, notifyFn, work items), for attributing pool allocations and violations.
const std::string& currentDriver();
class CurrentDriverScope {
 public:
  explicit CurrentDriverScope(std::string driver);
  ~CurrentDriverScope();
  CurrentDriverScope(const CurrentDriverScope&) = delete;
  CurrentDriverScope& operator=(const CurrentDriverScope&) = delete;

 private:
  std::string previous_;
};

// While a classifyFn runs, what its driver prints (DbgPrint/DbgPrintEx) is also added to that
// classify's trace record as a reason ("verify_proxy: no proxy registered: ..."), so the trace
// says why a callout decided as it did. The engine installs the sink around the call; the
// kernel's print functions call driverNote(), a no-op outside such a scope.
class DriverNoteScope {
 public:
  using Sink = void (*)(void* context, const std::string& note);
  DriverNoteScope(Sink sink, void* context);
  ~DriverNoteScope();
  DriverNoteScope(const DriverNoteScope&) = delete;
  DriverNoteScope& operator=(const DriverNoteScope&) = delete;

 private:
  Sink previousSink_;
  void* previousContext_;
};
void driverNote(const std::string& note);
// A DriverNoteScope is active on this thread (driverNote would record something).
bool driverNoteWanted();

}  // namespace openwfp::verifier
