// km/threads.cpp - system threads and thread object references: PsCreateSystemThread,
// PsTerminateSystemThread, PsGetCurrentThread / KeGetCurrentThread, ZwClose,
// ObReferenceObjectByHandle, ObfReferenceObject / ObfDereferenceObject.
//
// A system thread is a detached pthread running the driver's start routine at PASSIVE_LEVEL
// inside CurrentDriverScope(creator). Its thread object (_KTHREAD) starts with a
// DISPATCHER_HEADER (Type ThreadObject) that becomes signaled when the thread ends, so a driver
// can wait for it with KeWaitForSingleObject. The object is reference counted: the running
// thread, every open handle and every ObReferenceObject(ByHandle) hold one; it is freed when the
// last goes. PsTerminateSystemThread ends the thread with pthread_exit: the stack, including the
// driver's C frames, is unwound (forced unwind), so the thread's bookkeeping still runs.
//
// Locking: gMu guards gThreads, gHandles and the non-atomic fields of every _KTHREAD. It is
// never held while driver code runs.
#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <unordered_set>

#include "km/internal.h"
#include "km/support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

struct _KTHREAD {
  DISPATCHER_HEADER Header{};  // first: the object drivers wait on
  long refs = 0;               // gMu
  bool system = false;         // a thread of PsCreateSystemThread (else a per-thread pseudo object)
  bool running = false;        // gMu: the start routine (driver code) may still run
  bool started = false;        // gMu: the thread published its tid
  NTSTATUS exitStatus = STATUS_SUCCESS;
  std::string driver;          // creator's CurrentDriverScope
  PKSTART_ROUTINE start = nullptr;
  PVOID context = nullptr;
  pid_t tid = 0;
};

// The object types (opaque; only their addresses are compared).
struct _OBJECT_TYPE {
  const char* name;
};

namespace {

using openwfp::km::internal::kThreadObject;
using openwfp::km::internal::reportMisuse;

_OBJECT_TYPE gThreadType{"Thread"};
_OBJECT_TYPE gProcessType{"Process"};
_OBJECT_TYPE gEventType{"Event"};
POBJECT_TYPE gThreadTypePtr = &gThreadType;
POBJECT_TYPE gProcessTypePtr = &gProcessType;
POBJECT_TYPE gEventTypePtr = &gEventType;

struct HandleEntry {
  _KTHREAD* object;
  std::string driver;  // who opened it (PsCreateSystemThread's caller)
};

struct State {
  std::mutex mu;
  std::condition_variable started;
  std::unordered_set<_KTHREAD*> threads;  // live system thread objects
  std::map<uintptr_t, HandleEntry> handles;
  uintptr_t nextHandle = 1;
};

// Never destroyed: detached threads may still finish while the process exits.
State& state() {
  static State* s = new State;
  return *s;
}

thread_local _KTHREAD* tlsSelf = nullptr;

// Kernel handles have the top bit set on Windows; openwfp numbers them the same way.
uintptr_t makeHandleValue(uintptr_t n) { return static_cast<uintptr_t>(0xFFFFFFFF80000000ULL) | (n << 2); }

// gMu held. Drops one reference; frees the object when it was the last and the thread ended.
void releaseLocked(_KTHREAD* t) {
  if (--t->refs <= 0 && !t->running) {
    state().threads.erase(t);
    delete t;
  }
}

std::string describe(const _KTHREAD* t) {
  return fmt::format("system thread {} (thread object {}, start routine {})", t->tid, static_cast<const void*>(t),
                     reinterpret_cast<const void*>(t->start));
}

void threadEnded(_KTHREAD* t) {
  State& s = state();
  std::lock_guard lock(s.mu);
  t->running = false;
  openwfp::km::internal::signalDispatcherObject(&t->Header);
  releaseLocked(t);  // the thread's own reference
}

// Run during a normal return and during the forced unwind of PsTerminateSystemThread.
struct EndGuard {
  _KTHREAD* t;
  ~EndGuard() { threadEnded(t); }
};
struct IrqlCheck {  // inside the driver scope, before the IRQL scope restores PASSIVE_LEVEL
  _KTHREAD* t;
  ~IrqlCheck() {
    if (KeGetCurrentIrql() != PASSIVE_LEVEL) {
      reportMisuse(fmt::format("{} ended at IRQL {} (a spin lock still held?)", describe(t), KeGetCurrentIrql()));
    }
  }
};

void* threadMain(void* arg) {
  auto* t = static_cast<_KTHREAD*>(arg);
  tlsSelf = t;
  {
    std::lock_guard lock(state().mu);
    t->tid = static_cast<pid_t>(syscall(SYS_gettid));
    t->started = true;
  }
  state().started.notify_all();
  EndGuard guard{t};
  openwfp::verifier::CurrentDriverScope scope(t->driver);
  openwfp::km::IrqlScope irql(PASSIVE_LEVEL);
  IrqlCheck check{t};
  // PsTerminateSystemThread ends the thread with pthread_exit's forced unwind, which must pass
  // through here untouched: no catch (...) (it would have to rethrow) and no catch of
  // abi::__forced_unwind (UBSan: the unwind has no C++ object to bind). A std::exception thrown
  // by a C++ start routine is logged and ends the thread; anything else ends the process, as an
  // exception leaving a Windows system thread would.
  try {
    t->start(t->context);
  } catch (const std::exception& e) {
    spdlog::error("[{}] system thread start routine threw an exception: {}", t->driver, e.what());
  }
  return nullptr;
}

// A thread that is not a system thread gets a per-thread pseudo thread object (never signaled,
// not counted), so PsGetCurrentThread() is never NULL.
_KTHREAD* pseudoThread() {
  thread_local _KTHREAD self;
  thread_local bool initialized = false;
  if (!initialized) {
    self.Header.Type = kThreadObject;
    self.Header.Size = static_cast<UCHAR>(sizeof(DISPATCHER_HEADER) / sizeof(LONG));
    InitializeListHead(&self.Header.WaitListHead);
    self.tid = static_cast<pid_t>(syscall(SYS_gettid));
    initialized = true;
  }
  return &self;
}

}  // namespace

namespace openwfp::km {

ThreadRelease releaseSystemThreadsOf(const std::string& driverName) {
  ThreadRelease out;
  State& s = state();
  std::lock_guard lock(s.mu);
  for (_KTHREAD* t : s.threads) {
    if (t->driver == driverName && t->running) {
      ++out.running;
      out.leaks.push_back(fmt::format(
          "{} still running: DriverUnload must make it end (e.g. set a stop event) and wait for its thread object "
          "(KeWaitForSingleObject); the driver's library is not unloaded because its code is still running",
          describe(t)));
    }
  }
  for (auto it = s.handles.begin(); it != s.handles.end();) {
    if (it->second.driver != driverName) {
      ++it;
      continue;
    }
    _KTHREAD* t = it->second.object;
    out.leaks.push_back(fmt::format("thread handle 0x{:x} of {} not closed (ZwClose)", it->first, describe(t)));
    it = s.handles.erase(it);
    releaseLocked(t);
  }
  for (auto it = s.threads.begin(); it != s.threads.end();) {
    _KTHREAD* t = *it;
    if (t->driver == driverName && !t->running) {
      out.leaks.push_back(fmt::format("{}: {} reference(s) to its thread object not released (ObDereferenceObject)",
                                      describe(t), t->refs));
      it = s.threads.erase(it);
      delete t;
    } else {
      ++it;
    }
  }
  return out;
}

size_t runningSystemThreads() {
  State& s = state();
  std::lock_guard lock(s.mu);
  size_t n = 0;
  for (_KTHREAD* t : s.threads) n += t->running ? 1 : 0;
  return n;
}

}  // namespace openwfp::km

extern "C" {

POBJECT_TYPE* PsThreadType = &gThreadTypePtr;
POBJECT_TYPE* PsProcessType = &gProcessTypePtr;
POBJECT_TYPE* ExEventObjectType = &gEventTypePtr;

NTSTATUS NTAPI PsCreateSystemThread(PHANDLE ThreadHandle, ULONG DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
                                    HANDLE ProcessHandle, PCLIENT_ID ClientId, PKSTART_ROUTINE StartRoutine,
                                    PVOID StartContext) {
  (void)DesiredAccess;
  (void)ObjectAttributes;
  if (ThreadHandle != nullptr) *ThreadHandle = nullptr;
  if (ThreadHandle == nullptr || StartRoutine == nullptr) {
    reportMisuse("PsCreateSystemThread: NULL ThreadHandle or StartRoutine");
    return STATUS_INVALID_PARAMETER;
  }
  if (ProcessHandle != nullptr && ProcessHandle != NtCurrentProcess()) {
    reportMisuse("PsCreateSystemThread: ProcessHandle other than NULL / NtCurrentProcess(); the thread runs in the "
                 "system (engine) process");
  }
  if (KeGetCurrentIrql() != PASSIVE_LEVEL) {
    reportMisuse(fmt::format("PsCreateSystemThread at IRQL {}: requires PASSIVE_LEVEL", KeGetCurrentIrql()));
  }
  auto* t = new _KTHREAD;
  t->Header.Type = kThreadObject;
  t->Header.Size = static_cast<UCHAR>(sizeof(DISPATCHER_HEADER) / sizeof(LONG));
  InitializeListHead(&t->Header.WaitListHead);
  t->system = true;
  t->running = true;
  t->refs = 2;  // the thread itself and the handle
  t->driver = openwfp::verifier::currentDriver();
  t->start = StartRoutine;
  t->context = StartContext;

  State& s = state();
  uintptr_t handle;
  {
    std::lock_guard lock(s.mu);
    s.threads.insert(t);
    handle = makeHandleValue(s.nextHandle++);
    s.handles.emplace(handle, HandleEntry{t, t->driver});
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, threadMain, t);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    std::lock_guard lock(s.mu);
    s.handles.erase(handle);
    s.threads.erase(t);
    delete t;
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  pid_t tid;
  {
    std::unique_lock lock(s.mu);
    s.started.wait(lock, [&] { return t->started; });
    tid = t->tid;  // t stays alive: the handle holds a reference
  }
  *ThreadHandle = reinterpret_cast<HANDLE>(handle);
  if (ClientId != nullptr) {
    ClientId->UniqueProcess = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(getpid()));
    ClientId->UniqueThread = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(tid));
  }
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI PsTerminateSystemThread(NTSTATUS ExitStatus) {
  _KTHREAD* self = tlsSelf;
  if (self == nullptr) {
    reportMisuse("PsTerminateSystemThread called by a thread that is not a system thread (PsCreateSystemThread); "
                 "ignored");
    return STATUS_INVALID_PARAMETER;
  }
  if (KeGetCurrentIrql() != PASSIVE_LEVEL) {
    reportMisuse(fmt::format("PsTerminateSystemThread at IRQL {}: requires PASSIVE_LEVEL", KeGetCurrentIrql()));
  }
  {
    std::lock_guard lock(state().mu);
    self->exitStatus = ExitStatus;
  }
  pthread_exit(nullptr);  // unwinds to threadMain, which marks the thread ended
}

PETHREAD NTAPI PsGetCurrentThread(void) {
  return reinterpret_cast<PETHREAD>(tlsSelf != nullptr ? tlsSelf : pseudoThread());
}

PKTHREAD NTAPI KeGetCurrentThread(void) { return tlsSelf != nullptr ? tlsSelf : pseudoThread(); }

BOOLEAN NTAPI PsIsSystemThread(PETHREAD Thread) {
  auto* t = reinterpret_cast<_KTHREAD*>(Thread);
  std::lock_guard lock(state().mu);
  return state().threads.count(t) == 1 ? TRUE : FALSE;
}

NTSTATUS NTAPI ZwClose(HANDLE Handle) {
  State& s = state();
  {
    std::lock_guard lock(s.mu);
    auto it = s.handles.find(reinterpret_cast<uintptr_t>(Handle));
    if (it != s.handles.end()) {
      _KTHREAD* t = it->second.object;
      s.handles.erase(it);
      releaseLocked(t);
      return STATUS_SUCCESS;
    }
  }
  reportMisuse(fmt::format("ZwClose({}): not an open handle (closed twice?)", static_cast<void*>(Handle)));
  return STATUS_INVALID_HANDLE;
}

NTSTATUS NTAPI ObReferenceObjectByHandle(HANDLE Handle, ACCESS_MASK DesiredAccess, POBJECT_TYPE ObjectType,
                                         KPROCESSOR_MODE AccessMode, PVOID* Object,
                                         POBJECT_HANDLE_INFORMATION HandleInformation) {
  (void)DesiredAccess;
  (void)AccessMode;
  if (Object == nullptr) {
    reportMisuse("ObReferenceObjectByHandle: NULL Object");
    return STATUS_INVALID_PARAMETER;
  }
  *Object = nullptr;
  State& s = state();
  std::lock_guard lock(s.mu);
  _KTHREAD* t = nullptr;
  if (Handle == NtCurrentThread() && tlsSelf != nullptr) {
    t = tlsSelf;
  } else if (auto it = s.handles.find(reinterpret_cast<uintptr_t>(Handle)); it != s.handles.end()) {
    t = it->second.object;
  } else {
    return STATUS_INVALID_HANDLE;
  }
  if (ObjectType != nullptr && ObjectType != gThreadTypePtr) return STATUS_OBJECT_TYPE_MISMATCH;
  ++t->refs;
  *Object = t;
  if (HandleInformation != nullptr) {
    HandleInformation->HandleAttributes = 0;
    HandleInformation->GrantedAccess = THREAD_ALL_ACCESS;
  }
  return STATUS_SUCCESS;
}

// Objects other than system thread objects (device objects, file objects, ...) are not counted
// (openwfp choice): referencing them is accepted and has no effect.
LONG_PTR FASTCALL ObfReferenceObject(PVOID Object) {
  if (Object == nullptr) {
    reportMisuse("ObReferenceObject(NULL)");
    return 0;
  }
  State& s = state();
  std::lock_guard lock(s.mu);
  auto* t = static_cast<_KTHREAD*>(Object);
  if (s.threads.count(t) == 0) return 1;
  return ++t->refs;
}

LONG_PTR FASTCALL ObfDereferenceObject(PVOID Object) {
  if (Object == nullptr) {
    reportMisuse("ObDereferenceObject(NULL)");
    return 0;
  }
  State& s = state();
  std::lock_guard lock(s.mu);
  auto* t = static_cast<_KTHREAD*>(Object);
  if (s.threads.count(t) == 0) return 0;
  const long left = t->refs - 1;
  releaseLocked(t);
  return left;
}

}  // extern "C"
