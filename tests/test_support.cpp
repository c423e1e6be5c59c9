#include "test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/safetensors.hpp"

namespace fomo::test {

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "fomo-test-XXXXXX").string();
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

BackgroundRun::BackgroundRun(const std::string& binary, const std::vector<std::string>& args, const fs::path& dir,
                             const std::map<std::string, std::string>& env)
    : scratch_(std::make_unique<TempDir>()) {
  const fs::path out_path = scratch_->path() / "out", err_path = scratch_->path() / "err";
  pid_ = ::fork();
  if (pid_ == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(127);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
    ::setenv("FOMO_LOCK_TIMEOUT", env.count("FOMO_LOCK_TIMEOUT") ? env.at("FOMO_LOCK_TIMEOUT").c_str() : "10", 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
}

BackgroundRun::~BackgroundRun() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool BackgroundRun::WaitUntilStopped(double timeout_seconds) {
  for (double waited = 0; waited < timeout_seconds; waited += 0.05) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WUNTRACED | WNOHANG);
    if (r == pid_ && WIFSTOPPED(status)) return true;
    if (r == pid_) {  // it ended instead
      finished_status_ = status;
      return false;
    }
    ::usleep(50000);
  }
  return false;
}

void BackgroundRun::Continue() { ::kill(pid_, SIGCONT); }

RunResult BackgroundRun::Wait() {
  int status = 0;
  RunResult r;
  if (finished_status_) {
    status = *finished_status_;
  } else {
    struct rusage usage {};
    ::wait4(pid_, &status, 0, &usage);
    r.peak_rss_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux gives KiB
  }
  pid_ = -1;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = ReadFile(scratch_->path() / "out");
  r.err = ReadFile(scratch_->path() / "err");
  return r;
}

namespace {

RunResult Run(const std::string& binary, const std::vector<std::string>& args, const fs::path& dir,
              const std::map<std::string, std::string>& env) {
  return BackgroundRun(binary, args, dir, env).Wait();
}

}  // namespace

std::string FomoBinary() {
  const char* other = std::getenv("FOMO_TEST_BINARY");
  return other && *other ? other : FOMO_BINARY;
}

RunResult RunFomo(const std::vector<std::string>& args, const fs::path& dir,
                  const std::map<std::string, std::string>& env) {
  return Run(FomoBinary(), args, dir, env);
}

RunResult RunGen(const std::vector<std::string>& args) {
  return Run(FOMO_GEN_BINARY, args, fs::current_path(), {});
}

RunResult RunProgram(const std::vector<std::string>& argv, const fs::path& dir) {
  return Run(argv.at(0), std::vector<std::string>(argv.begin() + 1, argv.end()), dir, {});
}

std::string PythonWithTorch() {
  static const std::string found = [] {
    // FOMO_TEST_PYTHON names another interpreter ("" for none, to see the skip).
    const char* chosen = std::getenv("FOMO_TEST_PYTHON");
    const std::string python = chosen ? chosen : "/usr/bin/python3";
    if (python.empty()) return std::string();
    if (!fs::exists(python)) return std::string();
    RunResult r = Run(python, {"-c", "import torch"}, fs::temp_directory_path(), {});
    return r.exit_code == 0 ? python : std::string();
  }();
  return found;
}

bool UnderCtest() { return std::getenv("FOMO_UNDER_CTEST") != nullptr; }

void SkipUnderCtest(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(77);
}

fs::path DataFile(const std::string& name) { return fs::path(FOMO_TEST_DATA) / name; }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::map<std::string, std::string> TensorBytes(const fs::path& path) {
  auto file = core::SafetensorsFile::Open(path);
  std::map<std::string, std::string> out;
  for (const auto& t : file.tensors()) {
    out[t.name] = std::string(reinterpret_cast<const char*>(t.view.data), t.view.size);
  }
  return out;
}

Tensor RandomF32(const Shape& shape, uint32_t seed, float scale) {
  Tensor t{Dtype::kF32, shape, ByteBuffer(ByteSize(Dtype::kF32, shape))};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  auto* f = reinterpret_cast<float*>(t.bytes.data());
  for (uint64_t i = 0; i < NumElements(shape); ++i) f[i] = normal(rng);
  return t;
}

}  // namespace fomo::test

#include "storage/database.hpp"

namespace fomo::test {

std::map<std::string, std::string> RepositorySnapshot(const fs::path& root) {
  std::map<std::string, std::string> snapshot;
  for (const char* sub : {"objects", "graph"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / ".fomo" / sub)) {
      if (entry.is_regular_file()) {
        snapshot[fs::relative(entry.path(), root).string()] = ReadFile(entry.path());
      }
    }
  }
  Database db = Database::Open(root / ".fomo" / "fomo.sqlite", false);
  for (const auto& row : db.AllVersions()) {
    snapshot["row:" + row.commit] = row.version + " " + row.message + " " + std::to_string(row.stored_bytes);
  }
  return snapshot;
}

void InitReference(const fs::path& dir) {
  RunResult r = RunFomo({"init", "--from", DataFile("openai_clip_tiny.safetensors").string(), "-q"}, dir);
  if (r.exit_code != 0) throw std::runtime_error("init failed: " + r.err);
}

}  // namespace fomo::test

#include <jpeglib.h>
#include <png.h>

namespace fomo::test {

void WritePng(const fs::path& path, int width, int height, int channels, uint8_t value) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(static_cast<size_t>(width * height * channels), value);
  if (!png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr)) {
    throw std::runtime_error("cannot write PNG");
  }
}

void WriteJpeg(const fs::path& path, int width, int height, uint8_t value) {
  jpeg_compress_struct info{};
  jpeg_error_mgr error{};
  info.err = jpeg_std_error(&error);
  jpeg_create_compress(&info);
  FILE* file = std::fopen(path.c_str(), "wb");
  jpeg_stdio_dest(&info, file);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 95, TRUE);
  jpeg_start_compress(&info, TRUE);
  std::vector<uint8_t> row(static_cast<size_t>(width * 3), value);
  while (info.next_scanline < info.image_height) {
    JSAMPROW p = row.data();
    jpeg_write_scanlines(&info, &p, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::fclose(file);
}

void WriteTar(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& members) {
  std::string out;
  for (const auto& [name, content] : members) {
    char header[512] = {};
    std::snprintf(header, 100, "%s", name.c_str());
    std::snprintf(header + 100, 8, "%07o", 0644);
    std::snprintf(header + 108, 8, "%07o", 0);
    std::snprintf(header + 116, 8, "%07o", 0);
    std::snprintf(header + 124, 12, "%011lo", static_cast<unsigned long>(content.size()));
    std::snprintf(header + 136, 12, "%011o", 0);
    header[156] = '0';
    std::memcpy(header + 257, "ustar", 5);
    std::memset(header + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : header) sum += c;
    std::snprintf(header + 148, 8, "%06o", sum);
    out.append(header, 512);
    out += content;
    out.append((512 - content.size() % 512) % 512, '\0');
  }
  out.append(1024, '\0');
  WriteFile(path, out);
}

}  // namespace fomo::test
