// S1.1 (a Windows callout driver runs unchanged): debug output (src/km/debug_print.cpp):
// DbgPrint / DbgPrintEx / KdPrint logged with the driver's name and level, failed ASSERT /
// NT_ASSERT reported. (The printf dialect itself: format_test.cpp.)
#include <ntddk.h>

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/log_capture.h"
#include "km_test_support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using kmtest::KernelSupport;
using openwfp::Runtime;
using openwfp::verifier::Code;

namespace {

using openwfp::test_support::LogCapture;

}  // namespace

TEST_F(KernelSupport, S1_1_DbgPrintLogsWithDriverNameAndLevel) {
  LogCapture capture;
  {
    openwfp::verifier::CurrentDriverScope scope("printer");
    UNICODE_STRING u;
    RtlInitUnicodeString(&u, L"dev0");
    DbgPrint("hello %d %wZ %lu\n", 42, &u, static_cast<ULONG>(7));
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL, "bad %s\n", "thing");
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL, "careful\n");
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "details\n");
    KdPrint(("kd %s\n", "print"));
  }
  DbgPrint("anonymous\n");
  std::string text = capture.text();
  EXPECT_NE(text.find("info|[printer] hello 42 dev0 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("error|[printer] bad thing\n"), std::string::npos) << text;
  EXPECT_NE(text.find("warning|[printer] careful\n"), std::string::npos) << text;
  EXPECT_NE(text.find("debug|[printer] details\n"), std::string::npos) << text;
  EXPECT_NE(text.find("info|[printer] kd print\n"), std::string::npos) << text;
  EXPECT_NE(text.find("info|[kernel] anonymous\n"), std::string::npos) << text;
}

TEST_F(KernelSupport, S1_1_FailedAssertIsReported) {
  openwfp::verifier::CurrentDriverScope scope("asserter");
  int x = 1;
  ASSERT(x == 1);
  EXPECT_EQ(count(Code::DriverAssertFailed), 0u);
  NT_ASSERT(x == 2);
  ASSERT_EQ(count(Code::DriverAssertFailed), 1u);
  auto v = Runtime::current().verifier().violations().back();
  EXPECT_EQ(v.driver, "asserter");
  EXPECT_NE(v.message.find("x == 2"), std::string::npos) << v.message;
}

TEST_F(KernelSupport, S1_1_DbgPrintBelowTheLogLevelIsNotFormattedUnlessATraceRecordsIt) {
  // Below the log level and outside a classify's trace, the arguments are not even read: a %s
  // of an unreadable page would fault if it were formatted.
  LogCapture capture;
  spdlog::default_logger()->set_level(spdlog::level::warn);
  const long page = ::sysconf(_SC_PAGESIZE);
  void* mem = ::mmap(nullptr, static_cast<size_t>(page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  const char* unreadable = static_cast<const char*>(mem);
  EXPECT_EQ(DbgPrint("hidden %s\n", unreadable), static_cast<ULONG>(STATUS_SUCCESS));
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "hidden too %s\n", unreadable);
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL, "shown %d\n", 5);
  ::munmap(mem, static_cast<size_t>(page));
  // A trace records what the driver says whatever the log level.
  std::vector<std::string> notes;
  {
    openwfp::verifier::DriverNoteScope scope(
        [](void* ctx, const std::string& note) { static_cast<std::vector<std::string>*>(ctx)->push_back(note); },
        &notes);
    DbgPrint("noted %d\n", 7);
  }
  const std::string text = capture.text();
  EXPECT_EQ(text.find("hidden"), std::string::npos) << text;
  EXPECT_EQ(text.find("noted"), std::string::npos) << text;
  EXPECT_NE(text.find("warning|[kernel] shown 5\n"), std::string::npos) << text;
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], "noted 7");
}
