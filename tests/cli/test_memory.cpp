// Commands that move whole models stream them tensor by tensor: init, commit,
// export and merge of a 605 MB ViT-B/32-shaped model stay well under its size in
// peak resident memory. The bounds are generous (the store aims at the largest
// tensor, the 101 MB token embedding, times threads + 2, plus a fixed overhead);
// they are not timings. Before streaming, commit peaked at 1.4 models.
#include <filesystem>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;

TEST_CASE("init, commit, export and merge stream: peak memory stays well under the model", "[cli][memory]") {
  TempDir dir;
  fs::path a = dir / "a.safetensors", b = dir / "b.safetensors";
  REQUIRE(RunGen({"base", "--shape", "vit-b-32", "-o", a.string(), "--seed", "1"}).exit_code == 0);
  REQUIRE(RunGen({"update", a.string(), "-o", b.string(), "--kind", "dense", "--seed", "2"}).exit_code == 0);
  const double model = static_cast<double>(fs::file_size(a));
  auto peak = [&](const std::vector<std::string>& args, const fs::path& where) {
    RunResult r = RunFomo(args, where);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return static_cast<double>(r.peak_rss_bytes);
  };
  const double init = peak({"init", "repo", "--from", a.string(), "--no-eval", "-q"}, dir.path());
  const double commit = peak({"commit", b.string(), "--no-eval", "-q"}, dir / "repo");
  const double export_base = peak({"export", "v1.0.0", "-o", (dir / "base.safetensors").string(), "-q"}, dir / "repo");
  const double export_tip = peak({"export", "v1.0.1", "-o", (dir / "tip.safetensors").string(), "-q"}, dir / "repo");
  // What was exported is what was committed: committing the tip again adds nothing.
  RunResult again = RunFomo({"commit", (dir / "tip.safetensors").string(), "--no-eval"}, dir / "repo");
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("nothing to commit") != std::string::npos);
  const double merge =
      peak({"merge", "v1.0.1", "v1.0.0", "--method", "ties", "--base", "v1.0.0", "--no-eval", "-q"}, dir / "repo");
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
