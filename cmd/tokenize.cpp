// fomo tokenize TEXT... [--context N]: CLIP token ids. Without --context the BPE
// ids alone; with it the model input (start, ids, end, cut to N keeping the end
// token last, zero-padded).
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "core/tokenizer.hpp"
#include "storage/error.hpp"

namespace fomo::cmd {

namespace {

struct TokenizeOptions {
  std::vector<std::string> texts;
  int context = 0;
};

int RunTokenize(Context& ctx, const TokenizeOptions& o) {
  if (o.context < 0 || o.context == 1) throw UsageError("--context must be at least 2");
  const core::ClipTokenizer& tokenizer = core::ClipTokenizer::Default();
  nlohmann::json all = nlohmann::json::array();
  for (const auto& text : o.texts) {
    std::vector<int64_t> ids = o.context ? tokenizer.EncodeContext(text, o.context) : tokenizer.Encode(text);
    if (ctx.global.json) {
      all.push_back(ids);
    } else {
      std::cout << fmt::format("{}\n", fmt::join(ids, " "));
    }
  }
  if (ctx.global.json) PrintJson(all);
  return 0;
}

}  // namespace

Runner SetupTokenize(CommandLine& cli) {
  auto o = std::make_shared<TokenizeOptions>();
  cli.Option("text", &o->texts, "texts to tokenize", "TEXT", /*required=*/true);
  cli.Option("--context", &o->context, "pad or cut to N tokens with start and end tokens", "N");
  return [o](Context& ctx) { return RunTokenize(ctx, *o); };
}

}  // namespace fomo::cmd
