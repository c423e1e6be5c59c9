// mergekit-style merge recipes (fomo merge --recipe), and the per-tensor lookup of
// their overrides.
#include "fuzz_target.hpp"
#include "merge/merge_recipe.hpp"

FOMO_FUZZ_TARGET(merge_recipe) {
  auto recipe = fomo::merge::MergeRecipe::Parse(input, "recipe.yaml");
  for (const char* name : {"visual.proj", "transformer.resblocks.0.attn.in_proj_weight", "logit_scale"}) {
    recipe.ParamsFor(name);
  }
}
