// fomo embed [REV] (--text T... | --images FILE... | --input TENSORS.safetensors) [-o OUT] [--raw]:
// image and text features of a version, so anyone can check fomo's numbers against
// their own framework. --input takes tensors named image and/or tokens.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "cmd/output_path.hpp"
#include "core/checkpoint.hpp"
#include "core/embedding.hpp"
#include "core/torch_api.hpp"
#include "core/safetensors.hpp"
#include "core/tokenizer.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct EmbedOptions {
  std::string rev = "HEAD";
  std::vector<std::string> texts;
  std::vector<std::string> images;
  std::string input;
  std::string output;
  bool raw = false;
};

nlohmann::json Rows(const Tensor& t) {
  const auto* f = reinterpret_cast<const float*>(t.bytes.data());
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t r = 0; r < t.shape[0]; ++r) {
    rows.push_back(std::vector<float>(f + r * t.shape[1], f + (r + 1) * t.shape[1]));
  }
  return rows;
}

int RunEmbed(Context& ctx, const EmbedOptions& o) {
  if (o.texts.empty() && o.input.empty() && o.images.empty()) {
    throw UsageError("embed needs --text, --images or --input");
  }
  Repository& repo = ctx.repo();
  StoredVersion v = LoadVersion(repo.graph(), ResolveRevision(repo, o.rev));
  core::ClipConfig config = core::ClipConfig::FromJsonText(v.config_json, "version config");

  core::EmbedInputs inputs;
  std::optional<core::SafetensorsFile> input_file;
  Tensor text_tokens;
  if (!o.input.empty()) {
    input_file = core::SafetensorsFile::Open(o.input);
    if (const NamedTensor* image = input_file->Find("image")) inputs.images = image->view;
    if (const NamedTensor* tokens = input_file->Find("tokens")) inputs.tokens = tokens->view;
    if (!inputs.images && !inputs.tokens) {
      throw Error(fmt::format("'{}' has no tensor named image or tokens", o.input));
    }
  }
  // A bad -o fails before the model runs.
  const fs::path output = o.output.empty() ? fs::path() : CheckedOutputPath(o.output, &repo);
  for (const auto& file : o.images) {
    if (!fs::exists(file)) throw Error(fmt::format("cannot read '{}': no such file", file));
    inputs.files.push_back(core::DecodeImage(ReadFileToString(file), file));
  }
  if (!inputs.files.empty() && inputs.images) throw UsageError("give images with --images or in --input, not both");
  if (!o.texts.empty()) {
    if (inputs.tokens) throw UsageError("give texts with --text or tokens in --input, not both");
    const auto& tokenizer = core::ClipTokenizer::Default();
    Shape shape{static_cast<int64_t>(o.texts.size()), config.context_length};
    text_tokens = Tensor{Dtype::kI64, shape, ByteBuffer(ByteSize(Dtype::kI64, shape))};
    auto* ids = reinterpret_cast<int64_t*>(text_tokens.bytes.data());
    for (size_t i = 0; i < o.texts.size(); ++i) {
      auto row = tokenizer.EncodeContext(o.texts[i], config.context_length);
      std::copy(row.begin(), row.end(), ids + i * config.context_length);
    }
    inputs.tokens = text_tokens.view();
  }

  core::CheckManifest(v.manifest, config, v.version.Tag());
  core::StoredWeights weights = core::ReadWeights(repo.objects(), v.manifest, repo.config().storage.threads);
  core::EmbedOutputs out = core::Torch().embed(config, weights.named, inputs, !o.raw);

  std::vector<NamedTensor> tensors;
  if (out.image_features) tensors.push_back({"image_features", out.image_features->view()});
  if (out.text_features) tensors.push_back({"text_features", out.text_features->view()});
  if (out.logits_per_image) tensors.push_back({"logits_per_image", out.logits_per_image->view()});
  if (!o.output.empty()) {
    core::WriteSafetensors(output, tensors,
                           {{"fomo.version", v.version.ToString()}, {"fomo.normalized", o.raw ? "false" : "true"}});
  }
  if (ctx.global.json) {
    nlohmann::json j = {{"version", v.version.ToString()}, {"normalized", !o.raw}};
    if (out.image_features) j["image_features"] = Rows(*out.image_features);
    if (out.text_features) j["text_features"] = Rows(*out.text_features);
    if (out.logits_per_image) j["logits_per_image"] = Rows(*out.logits_per_image);
    PrintJson(j);
  } else if (!ctx.global.quiet) {
    for (const auto& t : tensors) {
      std::cout << fmt::format("{:<18} {}\n", t.name, ShapeString(t.view.shape));
    }
    if (out.logits_per_image) {
      std::cout << "logits_per_image (rows: images, columns: texts)\n";
      for (const auto& row : Rows(*out.logits_per_image)) {
        std::vector<std::string> cells;
        for (const auto& x : row) cells.push_back(fmt::format("{:8.3f}", x.get<float>()));
        std::cout << "  " << fmt::format("{}", fmt::join(cells, " ")) << "\n";
      }
    }
    if (!o.output.empty()) std::cout << fmt::format("wrote {}\n", o.output);
  }
  return 0;
}

}  // namespace

Runner SetupEmbed(CommandLine& cli) {
  auto o = std::make_shared<EmbedOptions>();
  cli.Option("revision", &o->rev, "version whose model to run (default HEAD)", "REV");
  cli.Option("--text", &o->texts, "texts to embed (tokenized with CLIP's BPE)", "TEXT");
  cli.Option("--images", &o->images, "JPEG or PNG files to embed (CLIP eval preprocessing)", "FILE");
  cli.Option("--input", &o->input, "safetensors with tensors image [n,3,H,W] and/or tokens [m,L]", "FILE");
  cli.Option("-o,--output", &o->output, "write the features to this safetensors file", "OUT");
  cli.Flag("--raw", &o->raw, "unnormalised features, as encode_image/encode_text return them");
  return [o](Context& ctx) { return RunEmbed(ctx, *o); };
}

}  // namespace fomo::cmd
