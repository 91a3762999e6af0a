// host/shipped_drivers.h - where the drivers shipped with openwfp (verify_proxy.so, policy.so)
// are: installed, <libdir>/openwfp/drivers/ beside libopenwfp (S16.1); in the build tree,
// drivers/ beside the openwfp executable (and the library's parent folder).
#pragma once

#include <string>

namespace openwfp::host {

// The path of the shipped driver `file` ("policy.so"); the first existing candidate, else
// "drivers/<file>" (the load then fails naming that path).
std::string shippedDriverPath(const std::string& file);

}  // namespace openwfp::host
