// host/policy_session.h - the rules file (SPEC S17, docs/policy.md) on the host side: loading the
// built-in policy driver (drivers/policy.so) and handing it the rules, the filters they became,
// and the built-in proxy that serves `proxy =` rules.
//
// How the driver receives its rules: the host (this code, in the process that runs the engine:
// `openwfp run` today, the engine service later for `openwfp policy load FILE`) parses the file,
// loads the driver if it is not loaded yet and sends the rule set to its device with
// IOCTL_POLICY_LOAD (openwfp/policy_channel.h), as a Windows service configures its driver with
// DeviceIoControl. A second load replaces the rules atomically; unloadPolicy() clears them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "openwfp/host.h"
#include "policy/policy.h"

namespace openwfp::host {

// The policy driver: $OPENWFP_POLICY_DRIVER, else drivers/policy.so next to libopenwfp, else next
// to the running executable.
std::string policyDriverPath();

// Parses `file`, loads the policy driver into `drivers` if needed and loads the rules into it.
// Returns "" or one line: the file's "FILE:LINE:COLUMN: expected ..." or why the driver refused.
std::string loadPolicy(DriverHost& drivers, const std::string& file);
// The same for rules already parsed (driverPath "" = policyDriverPath()).
std::string loadPolicy(DriverHost& drivers, const policy::Policy& rules, const std::string& driverPath = "");
// Removes every rule filter (the driver stays loaded). "" or one line.
std::string unloadPolicy(DriverHost& drivers);

// The filters the policy driver added to the running engine, in evaluation order, one line each:
// "rule N (line L): LAYER weight W: CONDITIONS -> ACTION".
std::vector<std::string> describePolicyFilters(const policy::Policy& rules);

// The built-in verify-before-accept proxy for `proxy =` rules, in this process: it talks to the
// policy driver's device and asks the connections' redirect context through the control channel
// at `controlSocket` (the run session's own server).
class PolicyProxy {
 public:
  PolicyProxy();
  ~PolicyProxy();
  // "" or one line. handOff: `proxy =` connections get the upstream socket itself (after the
  // SOCKS5 / CONNECT handshake), no relay (VerifyProxyOptions::handOff).
  std::string start(const std::string& controlSocket, bool handOff = false);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `run --policy FILE`: loadPolicy() and, when the file has proxy rules, proxy.start().
std::string startPolicy(DriverHost& drivers, const std::string& file, const std::string& controlSocket,
                        PolicyProxy& proxy, bool handOff = false);

}  // namespace openwfp::host
