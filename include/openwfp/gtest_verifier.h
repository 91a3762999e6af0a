// openwfp/gtest_verifier.h - fail a GoogleTest on any verifier violation (SPEC S16.2).
// Header-only over openwfp/verifier.h; include it after <gtest/gtest.h>.
//
//   OPENWFP_EXPECT_NO_VIOLATIONS();   // a non-fatal failure listing each violation, then clears
//   OPENWFP_ASSERT_NO_VIOLATIONS();   // the same, fatal
//
//   class MyDriverTest : public openwfp::verify::VerifiedTest { ... };
//     // SetUp: a fresh runtime (Runtime::reset()); TearDown: the test fails on any violation
//     // reported during it. A fixture that unloads its drivers in its own TearDown calls
//     // VerifiedTest::TearDown() after that, so unload-time findings (leaks, classify handles
//     // never released) count too.
//
//   openwfp::verify::ViolationGuard guard;  // in any test: fails it at the end of the scope
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "openwfp/openwfp.h"
#include "openwfp/verifier.h"

namespace openwfp::verify {

// Success when no violation is recorded; otherwise a failure naming each one. Clears them, so a
// finding is reported once.
inline ::testing::AssertionResult NoViolations() {
  const auto found = violations();
  if (found.empty()) return ::testing::AssertionSuccess();
  clearViolations();
  auto failure = ::testing::AssertionFailure();
  failure << found.size() << " verifier violation(s):";
  for (const auto& v : found) failure << "\n  " << v.str();
  return failure;
}

// Fails the running test, at its own destruction, on any violation recorded until then.
class ViolationGuard {
 public:
  ViolationGuard() = default;
  ViolationGuard(const ViolationGuard&) = delete;
  ViolationGuard& operator=(const ViolationGuard&) = delete;
  ~ViolationGuard() { check(); }
  // Checks now (and again at destruction, for what comes later).
  void check() { EXPECT_TRUE(NoViolations()); }
};

// A fixture: a fresh runtime per test, and the test fails on any violation.
class VerifiedTest : public ::testing::Test {
 protected:
  void SetUp() override { Runtime::reset(); }
  void TearDown() override { EXPECT_TRUE(NoViolations()); }
};

}  // namespace openwfp::verify

#define OPENWFP_EXPECT_NO_VIOLATIONS() EXPECT_TRUE(::openwfp::verify::NoViolations())
#define OPENWFP_ASSERT_NO_VIOLATIONS() ASSERT_TRUE(::openwfp::verify::NoViolations())
