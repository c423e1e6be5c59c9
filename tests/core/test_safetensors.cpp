#include <cstring>

#include "catch.hpp"
#include "core/safetensors.hpp"
#include "storage/error.hpp"
#include "test_support.hpp"

using namespace fomo;
using fomo::test::TempDir;

namespace {

std::string Header(const std::string& json) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + json;
}

// Writes a file with the given header JSON and data area, and opens it.
void OpenWith(const TempDir& dir, const std::string& json, const std::string& data) {
  fomo::test::WriteFile(dir / "x.safetensors", Header(json) + data);
  core::SafetensorsFile::Open(dir / "x.safetensors");
}

}  // namespace

TEST_CASE("safetensors written by fomo read back with metadata", "[safetensors]") {
  TempDir dir;
  Tensor a = fomo::test::RandomF32({3, 5}, 1);
  Tensor b{Dtype::kBF16, {7}, ByteBuffer(14)};
  std::memset(b.bytes.data(), 0x3f, 14);
  Tensor scalar = fomo::test::RandomF32({}, 2);
  core::WriteSafetensors(dir / "t.safetensors", {{"a", a.view()}, {"b", b.view()}, {"s", scalar.view()}},
                         {{"k", "v"}});
  auto file = core::SafetensorsFile::Open(dir / "t.safetensors");
  REQUIRE(file.metadata().at("k") == "v");
  REQUIRE(file.tensors().size() == 3);
  const NamedTensor* ta = file.Find("a");
  REQUIRE(ta);
  REQUIRE(ta->view.shape == Shape{3, 5});
  REQUIRE(std::memcmp(ta->view.data, a.bytes.data(), a.bytes.size()) == 0);
  REQUIRE(file.Find("b")->view.dtype == Dtype::kBF16);
  REQUIRE(file.Find("s")->view.shape.empty());
  // The data area starts 8-byte aligned.
  auto bytes = fomo::test::ReadFile(dir / "t.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  REQUIRE((8 + n) % 8 == 0);
}

TEST_CASE("the reference checkpoints open", "[safetensors]") {
  for (const char* name : {"openai_clip_tiny.safetensors", "hf_clip_tiny.safetensors",
                           "openai_clip_tiny_io.safetensors"}) {
    auto file = core::SafetensorsFile::Open(fomo::test::DataFile(name));
    REQUIRE(file.tensors().size() > 3);
  }
}

TEST_CASE("corrupt safetensors files are refused with a clear message", "[safetensors]") {
  TempDir dir;
  const std::string f32x2 = std::string(8, '\0');
  SECTION("missing file") {
    REQUIRE_THROWS_WITH(core::SafetensorsFile::Open(dir / "none.safetensors"), HasSubstr("no such file"));
  }
  SECTION("shorter than a header") {
    fomo::test::WriteFile(dir / "x.safetensors", "abc");
    REQUIRE_THROWS_WITH(core::SafetensorsFile::Open(dir / "x.safetensors"), HasSubstr("too short"));
  }
  SECTION("header length beyond the file") {
    std::string bytes(16, '\0');
    bytes[7] = 0x7f;  // about 9e18
    fomo::test::WriteFile(dir / "x.safetensors", bytes);
    REQUIRE_THROWS_WITH(core::SafetensorsFile::Open(dir / "x.safetensors"),
                        HasSubstr("exceeds the file size"));
  }
  SECTION("header length beyond the sane limit") {
    std::string bytes = Header(std::string(core::kMaxSafetensorsHeader + 1, ' '));
    fomo::test::WriteFile(dir / "x.safetensors", bytes);
    REQUIRE_THROWS_WITH(core::SafetensorsFile::Open(dir / "x.safetensors"), HasSubstr("exceeds the limit"));
  }
  SECTION("malformed JSON") {
    REQUIRE_THROWS_WITH(OpenWith(dir, "{\"a\": ", ""), HasSubstr("not valid JSON"));
  }
  SECTION("duplicate tensor names") {
    REQUIRE_THROWS_WITH(OpenWith(dir,
                                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                 R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 f32x2),
                        HasSubstr("names tensor 'a' twice"));
  }
  SECTION("offsets outside the data area") {
    REQUIRE_THROWS_WITH(OpenWith(dir, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32x2),
                        HasSubstr("outside the data area"));
  }
  SECTION("overlapping tensors") {
    REQUIRE_THROWS_WITH(OpenWith(dir,
                                 R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 f32x2),
                        HasSubstr("overlaps"));
  }
  SECTION("element count that does not match the shape") {
    REQUIRE_THROWS_WITH(OpenWith(dir, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2),
                        HasSubstr("needs 12"));
  }
  SECTION("unknown dtype") {
    REQUIRE_THROWS_WITH(OpenWith(dir, R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", f32x2),
                        HasSubstr("unsupported dtype 'F7'"));
  }
  SECTION("negative dimension") {
    REQUIRE_THROWS_WITH(OpenWith(dir, R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2),
                        HasSubstr("bad shape"));
  }
  SECTION("unused bytes in the data area") {
    REQUIRE_THROWS_WITH(OpenWith(dir, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32x2),
                        HasSubstr("no tensor uses"));
  }
  SECTION("non-string metadata") {
    REQUIRE_THROWS_WITH(OpenWith(dir, R"({"__metadata__":{"k":1}})", ""), HasSubstr("not a string"));
  }
}

namespace {
// A header naming count empty tensors t0, t1, ...
std::string ManyTensors(size_t count) {
  std::string json = "{";
  for (size_t i = 0; i < count; ++i) {
    json += (i ? "," : "") + std::string("\"t") + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  }
  return json + "}";
}
}  // namespace

TEST_CASE("tensor counts are bounded and a large header opens in linear time", "[safetensors][hostile]") {
  TempDir dir;
  // 50,000 tensors took 10 s in the quadratic duplicate check; now a fraction of one.
  fomo::test::WriteFile(dir / "x.safetensors", Header(ManyTensors(50000)));
  REQUIRE(core::SafetensorsFile::Open(dir / "x.safetensors").tensors().size() == 50000);
  REQUIRE(core::SafetensorsFile::Open(dir / "x.safetensors").Find("t49999") != nullptr);
  REQUIRE_THROWS_WITH(OpenWith(dir, ManyTensors(core::kMaxSafetensorsTensors + 1), ""),
                      HasSubstr("names 200001 tensors, more than the limit of 200000"));
  REQUIRE_THROWS_WITH(OpenWith(dir,
                               "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                               "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                               ""),
                      HasSubstr("names tensor 'a' twice"));
}
