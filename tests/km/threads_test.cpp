// S1.1 (a Windows callout driver runs unchanged): system threads and thread object references
// (src/km/threads.cpp): PsCreateSystemThread, PsTerminateSystemThread, ObReferenceObjectByHandle,
// ZwClose; S11.2 leak reports at unload (threads left running, handles not closed). Timeouts
// here are generous failure guards only; no assertion depends on timing.
#include <ntddk.h>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "km/support.h"
#include "km_test_support.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using kmtest::kGuard100ns;
using kmtest::KernelObjects;
using kmtest::rel100ns;
using openwfp::Runtime;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;

namespace {

struct ThreadProbe {
  KEVENT go;
  std::atomic<int> irql{-1};
  std::string driver;
  std::atomic<uint64_t> tid{0};
  std::atomic<bool> isSystem{false};
  std::atomic<bool> done{false};
};

void NTAPI probeThread(PVOID context) {
  auto* p = static_cast<ThreadProbe*>(context);
  p->irql = KeGetCurrentIrql();
  p->driver = openwfp::verifier::currentDriver();
  p->tid = reinterpret_cast<uintptr_t>(PsGetCurrentThreadId());
  p->isSystem = PsIsSystemThread(PsGetCurrentThread()) == TRUE;
  KeWaitForSingleObject(&p->go, Executive, KernelMode, FALSE, nullptr);
  p->done = true;
}

struct Unwound {
  std::atomic<bool>* flag;
  ~Unwound() { *flag = true; }
};
std::atomic<bool> gDestructorRan{false};
std::atomic<bool> gAfterTerminate{false};

void terminateFromNestedFrame() {
  Unwound u{&gDestructorRan};
  PsTerminateSystemThread(STATUS_SUCCESS);
  gAfterTerminate = true;
}

void NTAPI terminatingThread(PVOID) {
  terminateFromNestedFrame();
  gAfterTerminate = true;
}

}  // namespace

TEST_F(KernelObjects, S1_1_SystemThreadWaitsOnEventEndsAndSignalsItsObject) {
  ThreadProbe probe;
  KeInitializeEvent(&probe.go, NotificationEvent, FALSE);
  HANDLE handle = nullptr;
  CLIENT_ID client{};
  OBJECT_ATTRIBUTES attributes;
  InitializeObjectAttributes(&attributes, nullptr, OBJ_KERNEL_HANDLE, nullptr, nullptr);
  {
    openwfp::verifier::CurrentDriverScope scope("threads");
    ASSERT_EQ(PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, &attributes, nullptr, &client, probeThread, &probe),
              STATUS_SUCCESS);
  }
  ASSERT_NE(handle, nullptr);
  PVOID object = nullptr;
  ASSERT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, *PsThreadType, KernelMode, &object, nullptr),
            STATUS_SUCCESS);
  ASSERT_NE(object, nullptr);
  EXPECT_EQ(ZwClose(handle), STATUS_SUCCESS);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(client.UniqueProcess), static_cast<uintptr_t>(getpid()));

  LARGE_INTEGER zero = rel100ns(0);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &zero), STATUS_TIMEOUT) << "still waiting";
  EXPECT_FALSE(probe.done.load());
  KeSetEvent(&probe.go, IO_NO_INCREMENT, FALSE);
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  EXPECT_TRUE(probe.done.load());
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &zero), STATUS_SUCCESS)
      << "a thread object stays signaled";
  EXPECT_EQ(probe.irql.load(), PASSIVE_LEVEL);
  EXPECT_EQ(probe.driver, "threads");
  EXPECT_EQ(probe.tid.load(), reinterpret_cast<uintptr_t>(client.UniqueThread));
  EXPECT_NE(probe.tid.load(), reinterpret_cast<uintptr_t>(PsGetCurrentThreadId()));
  EXPECT_TRUE(probe.isSystem.load());
  EXPECT_FALSE(PsIsSystemThread(PsGetCurrentThread())) << "the test thread is not a system thread";
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 0u);
  ObDereferenceObject(object);
  EXPECT_TRUE(openwfp::km::releaseSystemThreadsOf("threads").leaks.empty());
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

TEST_F(KernelObjects, S1_1_PsTerminateSystemThreadUnwindsAndEndsTheThread) {
  gDestructorRan = false;
  gAfterTerminate = false;
  HANDLE handle = nullptr;
  ASSERT_EQ(PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, nullptr, nullptr, nullptr, terminatingThread, nullptr),
            STATUS_SUCCESS);
  PVOID object = nullptr;
  ASSERT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, nullptr, KernelMode, &object, nullptr), STATUS_SUCCESS);
  ZwClose(handle);
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  ObDereferenceObject(object);
  EXPECT_TRUE(gDestructorRan.load()) << "the frames between the start routine and the call were unwound";
  EXPECT_FALSE(gAfterTerminate.load()) << "PsTerminateSystemThread does not return";
  // Not a system thread: reported, returns.
  EXPECT_EQ(PsTerminateSystemThread(STATUS_SUCCESS), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
}

TEST_F(KernelObjects, S1_1_HandleAndReferenceErrors) {
  PVOID object = nullptr;
  EXPECT_EQ(ObReferenceObjectByHandle(reinterpret_cast<HANDLE>(0x1234), SYNCHRONIZE, *PsThreadType, KernelMode,
                                      &object, nullptr),
            STATUS_INVALID_HANDLE);
  ThreadProbe probe;
  KeInitializeEvent(&probe.go, NotificationEvent, FALSE);
  HANDLE handle = nullptr;
  ASSERT_EQ(PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, nullptr, NtCurrentProcess(), nullptr, probeThread, &probe),
            STATUS_SUCCESS);
  EXPECT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, *ExEventObjectType, KernelMode, &object, nullptr),
            STATUS_OBJECT_TYPE_MISMATCH);
  OBJECT_HANDLE_INFORMATION info{};
  ASSERT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, *PsThreadType, KernelMode, &object, &info), STATUS_SUCCESS);
  EXPECT_EQ(info.GrantedAccess, static_cast<ACCESS_MASK>(THREAD_ALL_ACCESS));
  EXPECT_EQ(ObReferenceObject(object), 4) << "the running thread, the handle and two references";
  EXPECT_EQ(ObDereferenceObject(object), 3);
  EXPECT_EQ(ZwClose(handle), STATUS_SUCCESS);
  EXPECT_EQ(ZwClose(handle), STATUS_INVALID_HANDLE);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u) << "closing twice is reported";
  KeSetEvent(&probe.go, IO_NO_INCREMENT, FALSE);
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  ObDereferenceObject(object);
}

// ---- Leak reports at unload ------------------------------------------------------------------

namespace {

HANDLE gKeptHandle = nullptr;
void NTAPI quickThread(PVOID) {}

void NTAPI unloadWaitsButKeepsHandle(PDRIVER_OBJECT) {
  PVOID object = nullptr;
  if (NT_SUCCESS(ObReferenceObjectByHandle(gKeptHandle, SYNCHRONIZE, *PsThreadType, KernelMode, &object, nullptr))) {
    KeWaitForSingleObject(object, Executive, KernelMode, FALSE, nullptr);
    ObDereferenceObject(object);
  }
  // ZwClose(gKeptHandle) forgotten.
}

NTSTATUS NTAPI handleKeepingEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  driver->DriverUnload = unloadWaitsButKeepsHandle;
  return PsCreateSystemThread(&gKeptHandle, THREAD_ALL_ACCESS, nullptr, nullptr, nullptr, quickThread, nullptr);
}

std::string driverPath(const char* file) { return std::string(OPENWFP_BINARY_DIR "/tests/drivers/") + file; }

std::string joined(const std::vector<openwfp::host::Leak>& leaks) {
  std::string all;
  for (const auto& l : leaks) all += l.what + "\n";
  return all;
}

}  // namespace

TEST_F(KernelObjects, S11_2_ThreadHandleNotClosedIsReported) {
  DriverHost host;
  ASSERT_TRUE(host.load(handleKeepingEntry, "keeper"));
  auto leaks = host.unload("keeper");
  ASSERT_EQ(leaks.size(), 1u) << joined(leaks);
  EXPECT_NE(leaks[0].what.find("not closed (ZwClose)"), std::string::npos) << leaks[0].what;
  EXPECT_EQ(count(Code::HandleLeak), 1u);
  EXPECT_EQ(ZwClose(gKeptHandle), STATUS_INVALID_HANDLE) << "closed by the host";
}

TEST_F(KernelObjects, S11_2_SystemThreadStoppedAndWaitedForAtUnloadIsClean) {
  unsetenv("THREAD_DRIVER_LEAVE_RUNNING");
  const std::string path = driverPath("libthread_driver.so");
  DriverHost host;
  auto r = host.load(path);
  ASSERT_TRUE(r) << r.error;
  auto leaks = host.unload("libthread_driver");
  EXPECT_TRUE(leaks.empty()) << joined(leaks);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 0u);
}

TEST_F(KernelObjects, S11_2_SystemThreadLeftRunningIsReportedAndLibraryStaysLoaded) {
  setenv("THREAD_DRIVER_LEAVE_RUNNING", "1", 1);
  const std::string path = driverPath("libthread_driver.so");
  DriverHost host;
  auto r = host.load(path);
  ASSERT_TRUE(r) << r.error;
  auto leaks = host.unload("libthread_driver");
  unsetenv("THREAD_DRIVER_LEAVE_RUNNING");
  const std::string all = joined(leaks);
  ASSERT_EQ(leaks.size(), 2u) << all;
  EXPECT_NE(all.find("still running"), std::string::npos) << all;
  EXPECT_NE(all.find("library is not unloaded"), std::string::npos) << all;
  EXPECT_NE(all.find("not closed (ZwClose)"), std::string::npos) << all;
  EXPECT_EQ(count(Code::HandleLeak), 2u);

  // The library is still mapped: its thread keeps running its code.
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr) << "the host must not dlclose a driver whose thread still runs";
  auto state = reinterpret_cast<LONG (*)(void)>(dlsym(library, "ThreadDriverState"));
  auto stopAndWait = reinterpret_cast<NTSTATUS (*)(void)>(dlsym(library, "ThreadDriverStopAndWait"));
  ASSERT_NE(state, nullptr);
  ASSERT_NE(stopAndWait, nullptr);
  EXPECT_EQ(state(), 0);
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 1u);
  EXPECT_EQ(stopAndWait(), STATUS_SUCCESS);
  EXPECT_EQ(state(), 1) << "ended by PsTerminateSystemThread through the driver's C frames";
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 0u);
  dlclose(library);
}
