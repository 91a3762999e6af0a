// km/debug_print.cpp - DbgPrint, DbgPrintEx and RtlAssert (ASSERT) into spdlog.
//
// Each call is one log line "[driver] message" (trailing newlines dropped), formatted with the
// Windows printf dialect (format.h). DbgPrintEx levels map to log levels: ERROR -> error,
// WARNING -> warn, INFO -> info, TRACE and the rest -> debug; a mask level (> 31) maps by its
// lowest set bit the same way. All messages pass (no component filter): spdlog's level decides;
// a message below it, outside a classify's trace, is not formatted at all.
#include <wdm.h>

#include <spdlog/spdlog.h>

#include <cstdarg>

#include "km/format.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

namespace {

spdlog::level::level_enum levelFor(ULONG level) {
  if (level > 31) {  // a bit mask: (1 << n) means level n
    if (level & (1u << DPFLTR_ERROR_LEVEL)) return spdlog::level::err;
    if (level & (1u << DPFLTR_WARNING_LEVEL)) return spdlog::level::warn;
    if (level & (1u << DPFLTR_INFO_LEVEL)) return spdlog::level::info;
    return spdlog::level::debug;
  }
  switch (level) {
    case DPFLTR_ERROR_LEVEL: return spdlog::level::err;
    case DPFLTR_WARNING_LEVEL: return spdlog::level::warn;
    case DPFLTR_INFO_LEVEL: return spdlog::level::info;
    default: return spdlog::level::debug;
  }
}

void emit(spdlog::level::level_enum level, const char* format, va_list args) {
  // Formatted only for someone: the classify's trace record or the log at this level.
  if (!openwfp::verifier::driverNoteWanted() && !spdlog::should_log(level)) return;
  std::string text = openwfp::km::formatKernelMessage(format, args);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  openwfp::verifier::driverNote(text);  // into the trace record of the classify it runs for, if any
  if (!spdlog::should_log(level)) return;
  const std::string& driver = openwfp::verifier::currentDriver();
  spdlog::log(level, "[{}] {}", driver.empty() ? "kernel" : driver, text);
}

}  // namespace

extern "C" {

ULONG __cdecl DbgPrint(PCSTR Format, ...) {
  va_list ap;
  va_start(ap, Format);
  emit(spdlog::level::info, Format, ap);
  va_end(ap);
  return STATUS_SUCCESS;
}

ULONG __cdecl DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...) {
  (void)ComponentId;
  va_list ap;
  va_start(ap, Format);
  emit(levelFor(Level), Format, ap);
  va_end(ap);
  return STATUS_SUCCESS;
}

// A failed ASSERT: logged and reported (in tests a violation fails the test); execution goes on,
// as after "ignore" in a kernel debugger.
void NTAPI RtlAssert(PVOID VoidFailedAssertion, PVOID VoidFileName, ULONG LineNumber, PSTR MutableMessage) {
  const char* expr = VoidFailedAssertion != nullptr ? static_cast<const char*>(VoidFailedAssertion) : "?";
  const char* file = VoidFileName != nullptr ? static_cast<const char*>(VoidFileName) : "?";
  std::string message = fmt::format("ASSERT({}) failed at {}:{}", expr, file, LineNumber);
  if (MutableMessage != nullptr) message += fmt::format(": {}", MutableMessage);
  const std::string& driver = openwfp::verifier::currentDriver();
  spdlog::error("[{}] {}", driver.empty() ? "kernel" : driver, message);
  openwfp::Runtime::current().verifier().report(
      {openwfp::verifier::Code::DriverAssertFailed, std::move(message), driver, "", 0});
}

}  // extern "C"
