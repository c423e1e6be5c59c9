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

void* LoadModule() {
  std::string tried;
  for (const auto& path : Candidates()) {
    if (!fs::exists(path)) {
      tried += " '" + path.string() + "'";
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw Error(fmt::format("cannot load '{}': {}", path.string(), ::dlerror()));
    return handle;
  }
  throw Error(fmt::format("cannot find fomo's LibTorch module {} (looked at{})", kModuleName, tried));
}

const TorchApi* Load() {
  auto entry = reinterpret_cast<const TorchApi* (*)()>(TorchModuleSymbol("fomo_torch_api"));
  const TorchApi* api = entry();
  if (api->abi_version != kTorchApiVersion) {
    throw Error(fmt::format("fomo's LibTorch module was built for another fomo (module version {}, need {})",
                            api->abi_version, kTorchApiVersion));
  }
  return api;
}

}  // namespace

void* TorchModuleSymbol(const char* name) {
  static void* handle = LoadModule();
  void* symbol = ::dlsym(handle, name);
  if (!symbol) throw Error(fmt::format("fomo's LibTorch module lacks '{}': it was built for another fomo", name));
  return symbol;
}

const TorchApi& Torch() {
  static const TorchApi* api = Load();
  return *api;
}

}  // namespace fomo::core
