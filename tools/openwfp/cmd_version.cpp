// `openwfp version`: what this build is and which SPEC layers it serves.
#include <cstdio>

#include "commands.h"
#include "openwfp/version.h"

namespace {
openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("version", "Print version and supported layers");
  cmd->callback([&exitCode] {
    std::printf("openwfp %s\n", openwfp_version());
    std::printf("layers: ALE_CONNECT_REDIRECT_V4/V6, ALE_BIND_REDIRECT_V4/V6, ALE_AUTH_CONNECT_V4/V6\n");
    exitCode = 0;
  });
});
}  // namespace
