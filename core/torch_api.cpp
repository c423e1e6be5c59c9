#include "core/torch_api.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

namespace {

namespace fs = std::filesystem;
constexpr const char* kModuleName = "libfomo_torch.so";

std::vector<fs::path> Candidates() {
  std::vector<fs::path> paths;
  if (const char* env = std::getenv("FOMO_TORCH_MODULE"); env && *env) paths.emplace_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) paths.push_back(exe.parent_path() / kModuleName);
  paths.push_back(fs::path(FOMO_INSTALL_MODULE_DIR) / kModuleName);
  return paths;
}

const TorchApi* Load() {
  std::string tried;
  for (const auto& path : Candidates()) {
    if (!fs::exists(path)) {
      tried += " '" + path.string() + "'";
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw Error(fmt::format("cannot load '{}': {}", path.string(), ::dlerror()));
    auto entry = reinterpret_cast<const TorchApi* (*)()>(::dlsym(handle, "fomo_torch_api"));
    if (!entry) throw Error(fmt::format("'{}' is not fomo's LibTorch module", path.string()));
    const TorchApi* api = entry();
    if (api->abi_version != kTorchApiVersion) {
      throw Error(fmt::format("'{}' was built for another fomo (module version {}, need {})", path.string(),
                              api->abi_version, kTorchApiVersion));
    }
    return api;
  }
  throw Error(fmt::format("cannot find fomo's LibTorch module {} (looked at{})", kModuleName, tried));
}

}  // namespace

const TorchApi& Torch() {
  static const TorchApi* api = Load();
  return *api;
}

}  // namespace fomo::core
