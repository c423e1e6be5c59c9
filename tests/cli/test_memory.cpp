// Commands that move whole models stream them tensor by tensor: init, commit,
// export and merge of a 605 MB ViT-B/32-shaped model stay well under its size in
// peak resident memory. The bounds are generous (the store aims at the largest
// tensor, the 101 MB token embedding, times threads + 2, plus a fixed overhead);
// they are not timings. Before streaming, commit peaked at 1.4 models.
#include <filesystem>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;

namespace {

// The peak resident memory of one fomo command, which must succeed.
double PeakRss(const std::vector<std::string>& args, const fs::path& where) {
  RunResult r = RunFomo(args, where);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return static_cast<double>(r.peak_rss_bytes);
}

}  // namespace

TEST_CASE("init, commit, export and merge stream: peak memory stays well under the model", "[cli][memory]") {
  TempDir dir;
  fs::path a = dir / "a.safetensors", b = dir / "b.safetensors";
  REQUIRE(RunGen({"base", "--shape", "vit-b-32", "-o", a.string(), "--seed", "1"}).exit_code == 0);
  REQUIRE(RunGen({"update", a.string(), "-o", b.string(), "--kind", "dense", "--seed", "2"}).exit_code == 0);
  const double model = static_cast<double>(fs::file_size(a));
  const double init = PeakRss({"init", "repo", "--from", a.string(), "--no-eval", "-q"}, dir.path());
  const double commit = PeakRss({"commit", b.string(), "--no-eval", "-q"}, dir / "repo");
  const double export_base = PeakRss({"export", "v1.0.0", "-o", (dir / "base.safetensors").string(), "-q"}, dir / "repo");
  const double export_tip = PeakRss({"export", "v1.0.1", "-o", (dir / "tip.safetensors").string(), "-q"}, dir / "repo");
  // What was exported is what was committed: committing the tip again adds nothing.
  RunResult again = RunFomo({"commit", (dir / "tip.safetensors").string(), "--no-eval"}, dir / "repo");
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("nothing to commit") != std::string::npos);
  const double merge =
      PeakRss({"merge", "v1.0.1", "v1.0.0", "--method", "ties", "--base", "v1.0.0", "--no-eval", "-q"}, dir / "repo");
#ifdef FOMO_SANITIZED
  FOMO_SKIP("a sanitizer build's shadow memory makes peak RSS meaningless");
#endif
  INFO("model " << model / 1e6 << " MB; peak RSS in models: init " << init / model << ", commit " << commit / model
                << ", export base " << export_base / model << ", export tip " << export_tip / model << ", merge "
                << merge / model);
  CHECK(init < 0.75 * model);
  CHECK(commit < 0.75 * model);
  CHECK(export_base < 0.75 * model);
  CHECK(export_tip < 0.75 * model);
  // Three inputs (two versions and the base) and the output, a tensor each.
  CHECK(merge < 1.0 * model);
}

TEST_CASE("imports that convert (a Hugging Face layout, --dtype) convert a tensor at a time", "[cli][memory]") {
  TempDir dir;
  fs::path a = dir / "a.safetensors";
  REQUIRE(RunGen({"base", "--shape", "vit-b-32", "-o", a.string(), "--seed", "1"}).exit_code == 0);
  const double model = static_cast<double>(fs::file_size(a));
  REQUIRE(RunFomo({"init", "repo", "--from", a.string(), "--no-eval", "-q"}, dir.path()).exit_code == 0);
  // The Hugging Face layout splits q, k and v and transposes the projections: an
  // import joins and transposes them back.
  REQUIRE(RunFomo({"export", "-o", (dir / "hf").string(), "--layout", "hf", "-q"}, dir / "repo").exit_code == 0);
  const double hf = PeakRss({"init", "from-hf", "--from", (dir / "hf").string(), "--no-eval", "-q"}, dir.path());
  REQUIRE(RunFomo({"export", "-o", (dir / "back.safetensors").string(), "--layout", "openai", "-q"}, dir / "from-hf")
              .exit_code == 0);
  // An f16 copy committed back with --dtype f32: every tensor converted.
  REQUIRE(RunFomo({"export", "-o", (dir / "f16.safetensors").string(), "--dtype", "f16", "-q"}, dir / "repo").exit_code == 0);
  const double dtype = PeakRss({"commit", (dir / "f16.safetensors").string(), "--dtype", "f32", "--no-eval", "-q"}, dir / "repo");
  RunResult shown = RunFomo({"show", "--json"}, dir / "repo");
  REQUIRE(shown.exit_code == 0);
  CHECK(shown.out.find("\"F32\"") != std::string::npos);
  // Joined and transposed back bit for bit: the weights the directory was exported from.
  CHECK(TensorBytes(dir / "back.safetensors") == TensorBytes(a));
#ifdef FOMO_SANITIZED
  FOMO_SKIP("a sanitizer build's shadow memory makes peak RSS meaningless");
#endif
  INFO("model " << model / 1e6 << " MB; peak RSS in models: init from hf " << hf / model << ", commit --dtype " << dtype / model);
  CHECK(hf < 0.75 * model);
  CHECK(dtype < 0.75 * model);
}
