#include "host/shipped_drivers.h"

#include <dlfcn.h>

#include <filesystem>
#include <vector>

namespace openwfp::host {

std::string shippedDriverPath(const std::string& file) {
  namespace fs = std::filesystem;
  std::vector<fs::path> dirs;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&shippedDriverPath), &info) != 0 && info.dli_fname != nullptr) {
    fs::path lib = fs::weakly_canonical(fs::path(info.dli_fname)).parent_path();
    dirs = {lib / "openwfp" / "drivers", lib / "drivers", lib.parent_path() / "drivers"};
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    for (const fs::path& d : {dir / "drivers", dir.parent_path() / "drivers",
                              dir.parent_path() / "lib" / "openwfp" / "drivers"})
      dirs.push_back(d);
  }
  for (const fs::path& d : dirs)
    if (fs::exists(d / file, ec)) return (d / file).string();
  return "drivers/" + file;
}

}  // namespace openwfp::host
