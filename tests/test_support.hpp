// Helpers shared by the test executables: scratch directories, running the fomo
// binary, reading files, making small tensors.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/tensor.hpp"

namespace fomo::test {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

struct RunResult {
  int exit_code = -1;  // -signal when killed
  std::string out;
  std::string err;
  uint64_t peak_rss_bytes = 0;  // the process's peak resident set (0 if unknown)
};

// The fomo binary the tests run: this build's, or FOMO_TEST_BINARY's (to run the
// suite against another build, such as the one before a fix).
std::string FomoBinary();
// Runs the fomo binary with args in dir, with extra environment variables.
RunResult RunFomo(const std::vector<std::string>& args, const fs::path& dir,
                  const std::map<std::string, std::string>& env = {});
// A process started and left running: the test stops it, works beside it, and
// waits for it (killed if the test ends first).
class BackgroundRun {
 public:
  BackgroundRun(const std::string& binary, const std::vector<std::string>& args, const fs::path& dir,
                const std::map<std::string, std::string>& env = {});
  ~BackgroundRun();
  BackgroundRun(const BackgroundRun&) = delete;
  BackgroundRun& operator=(const BackgroundRun&) = delete;
  // True once the process has stopped itself (SIGSTOP, as FOMO_PAUSE_AT_STEP does);
  // false when it ended or the time ran out.
  bool WaitUntilStopped(double timeout_seconds);
  void Continue();
  RunResult Wait();

 private:
  pid_t pid_ = -1;
  std::optional<int> finished_status_;
  std::unique_ptr<TempDir> scratch_;
};

// Runs the fomo-gen helper.
RunResult RunGen(const std::vector<std::string>& args);
// Runs any program (argv[0] an absolute path) in dir.
RunResult RunProgram(const std::vector<std::string>& argv, const fs::path& dir);

// Debian's python3 with python3-torch, which makes and checks PyTorch files; empty
// when absent.
std::string PythonWithTorch();

// A test whose tool is absent is skipped, never passed: under ctest the process
// exits with 77 (SKIP_RETURN_CODE) after saying why; run directly, a warning.
[[noreturn]] void SkipUnderCtest(const std::string& why);
bool UnderCtest();
#define FOMO_SKIP(why)                              \
  do {                                              \
    if (::fomo::test::UnderCtest()) ::fomo::test::SkipUnderCtest(why); \
    WARN("skipped: " << (why));                     \
    return;                                         \
  } while (0)

fs::path DataFile(const std::string& name);
std::string ReadFile(const fs::path& path);
void WriteFile(const fs::path& path, const std::string& content);

// Tensor name -> raw bytes of a safetensors file (its metadata ignored).
std::map<std::string, std::string> TensorBytes(const fs::path& path);

// A tensor of float32 values from a seed (deterministic).
Tensor RandomF32(const Shape& shape, uint32_t seed, float scale = 0.02f);

}  // namespace fomo::test

namespace fomo::test {

// Everything a repository holds that a failed command must not change: the bytes of
// every file under .fomo/objects and .fomo/graph, and the database's version rows.
std::map<std::string, std::string> RepositorySnapshot(const fs::path& root);

// Creates a repository in dir from the reference OpenAI checkpoint.
void InitReference(const fs::path& dir);

}  // namespace fomo::test

namespace fomo::test {

// Small image files for data tests: a width x height image of one grey or RGB
// colour, written as PNG or JPEG.
void WritePng(const fs::path& path, int width, int height, int channels, uint8_t value);
void WriteJpeg(const fs::path& path, int width, int height, uint8_t value);
// A ustar archive holding the given (name, content) members.
void WriteTar(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& members);

}  // namespace fomo::test
