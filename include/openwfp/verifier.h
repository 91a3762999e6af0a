/* openwfp/verifier.h - the verifier's findings for the tests of a callout driver (SPEC S16.2).
 *
 * The verifier (on by default, Runtime::reset()) reports API misuse by drivers as violations:
 * an engine-owned localRedirectContext freed, a pend returned with the write right still set, a
 * misaligned SIO-format records buffer, a classify handle never released, a redirect the engine
 * did not apply (no localRedirectTargetPID), pool leaks at unload, ... Each has a code (the names
 * of the list below) and a one-line message naming the WDK function. This header reads them,
 * from C and C++; openwfp/gtest_verifier.h fails a GoogleTest on any of them.
 *
 * Codes: AcquireWithoutApply ReauthorizeFlagInline PendWithoutBlock HandleLeak
 * ClassifyHandleNotReleased UseAfterRelease DoubleComplete MisalignedSioBuffer
 * ReadOnlyFieldChanged EngineOwnedContextFreed PendNeverCompleted PoolLeak ReauthorizeLimit
 * InvalidArgument PoolTagMismatch PoolFreeUnknown DriverAssertFailed KernelApiMisuse
 * RedirectNotApplied NotSupported.
 *
 * The functions act on the current runtime (openwfp::Runtime::current()); its violations are
 * those reported since it was created (Runtime::reset()) or since openwfp_verifier_clear(). */
#ifndef OPENWFP_VERIFIER_H
#define OPENWFP_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct openwfp_violation {
  const char* code;    /* "EngineOwnedContextFreed", ... */
  const char* message; /* one line */
  const char* driver;  /* the driver it is blamed on ("" if unknown) */
  const char* callout; /* the callout as text ("" if not in a callout) */
  uint64_t filter_id;  /* the filter whose callout ran (0 if none) */
} openwfp_violation;

/* The number of violations recorded. */
size_t openwfp_verifier_count(void);
/* The number recorded with this code (a name from the list above; 0 for an unknown name). */
size_t openwfp_verifier_count_code(const char* code);
/* Violation `index` (0 = the oldest) into *out: 0, or -1 if index >= the count. The strings stay
 * valid until the next openwfp_verifier_get() or openwfp_verifier_clear() on this thread. */
int openwfp_verifier_get(size_t index, openwfp_violation* out);
/* Forgets the violations recorded so far. */
void openwfp_verifier_clear(void);
/* Turns recording on (nonzero) or off. */
void openwfp_verifier_set_enabled(int on);

#ifdef __cplusplus
} /* extern "C" */

#include <string>
#include <string_view>
#include <vector>

namespace openwfp::verify {

struct Violation {
  std::string code;  // "EngineOwnedContextFreed", ...
  std::string message;
  std::string driver;
  std::string callout;
  uint64_t filterId = 0;
  // "EngineOwnedContextFreed [example]: <message>"
  std::string str() const;
};

// The violations recorded, oldest first.
std::vector<Violation> violations();
// How many have this code ("" = all).
size_t violationCount(std::string_view code = {});
// Forgets them.
void clearViolations();
// One line per violation ("" if none).
std::string describeViolations();

}  // namespace openwfp::verify
#endif /* __cplusplus */

#endif /* OPENWFP_VERIFIER_H */
