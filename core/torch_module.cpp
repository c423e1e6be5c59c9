// The entry point of libfomo_torch.so: the table of LibTorch-backed functions
// that core/torch_api.hpp hands to the commands.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "core/clip_model.hpp"
#include "core/embedding.hpp"
#include "core/torch_api.hpp"
#include "core/zero_shot.hpp"

namespace {

using namespace fomo;

std::vector<Tensor> InitWeights(const core::ClipConfig& config, uint64_t seed) {
  torch::manual_seed(seed);
  core::ClipModel model(config);
  auto params = model->named_parameters();
  std::vector<Tensor> out;
  for (const auto& [name, shape] : config.ExpectedTensors()) {
    torch::Tensor p = params[name].detach().to(torch::kFloat32).contiguous();
    Tensor t{Dtype::kF32, shape, ByteBuffer(ByteSize(Dtype::kF32, shape))};
    std::memcpy(t.bytes.data(), p.data_ptr(), t.bytes.size());
    out.push_back(std::move(t));
  }
  return out;
}

const core::TorchApi kApi = {
    core::kTorchApiVersion,
    &core::Embed,
    &core::ZeroShot,
    &core::Retrieval,
    &InitWeights,
    &core::ReadPytorchFile,
};

}  // namespace

// LibTorch runs its own intra-op threads; an OpenBLAS that also starts one thread
// per core oversubscribes the machine and spends its time yielding (measured: a
// quarter of eval time in sched_yield on two cores). Keep BLAS single-threaded
// unless the user chose otherwise.
void LimitBlasThreads() {
  if (std::getenv("OPENBLAS_NUM_THREADS") || std::getenv("GOTO_NUM_THREADS")) return;
  using SetThreads = void (*)(int);
  // LibTorch reaches OpenBLAS through the BLAS alternative; look in what is loaded.
  for (const char* library : {"libblas.so.3", "libopenblas.so.0"}) {
    void* handle = ::dlopen(library, RTLD_NOW | RTLD_NOLOAD);
    if (!handle) continue;
    auto set = reinterpret_cast<SetThreads>(::dlsym(handle, "openblas_set_num_threads"));
    ::dlclose(handle);
    if (set) {
      set(1);
      return;
    }
  }
}

extern "C" __attribute__((visibility("default"))) const fomo::core::TorchApi* fomo_torch_api() {
  static const bool limited = (LimitBlasThreads(), true);
  (void)limited;
  return &kApi;
}
