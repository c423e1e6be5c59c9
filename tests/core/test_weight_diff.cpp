#include <cmath>
#include <cstring>

#include "catch.hpp"
#include "core/weight_diff.hpp"
#include "test_support.hpp"

using namespace fomo;

TEST_CASE("tensor names fall into groups", "[diff]") {
  REQUIRE(core::TensorGroup("visual.transformer.resblocks.3.attn.in_proj_weight") == "visual.block.3");
  REQUIRE(core::TensorGroup("transformer.resblocks.11.mlp.c_fc.bias") == "text.block.11");
  REQUIRE(core::TensorGroup("visual.conv1.weight") == "visual.embed");
  REQUIRE(core::TensorGroup("visual.proj") == "visual.head");
  REQUIRE(core::TensorGroup("token_embedding.weight") == "text.embed");
  REQUIRE(core::TensorGroup("text_projection") == "text.head");
  REQUIRE(core::TensorGroup("logit_scale") == "logit_scale");
}

TEST_CASE("relative L2 and changed share are computed per group", "[diff]") {
  fomo::test::TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  // a = [3, 4] (norm 5); b changes one element by 1: rel L2 = 0.2, half changed.
  Tensor a{Dtype::kF32, {2}, ByteBuffer(8)}, b{Dtype::kF32, {2}, ByteBuffer(8)};
  float av[2] = {3, 4}, bv[2] = {3, 5};
  std::memcpy(a.bytes.data(), av, 8);
  std::memcpy(b.bytes.data(), bv, 8);
  Tensor same = fomo::test::RandomF32({4}, 1);
  auto put = [&](const Tensor& t) {
    ObjectId id = TensorId(t.view());
    PutResult r = store.Put(id, t.view(), std::nullopt);
    return ManifestEntry{"", id, t.dtype, t.shape, r.encoding, r.stored_size};
  };
  Manifest ma, mb;
  ma.tensors = {put(a), put(same)};
  mb.tensors = {put(b), put(same)};
  ma.tensors[0].name = mb.tensors[0].name = "visual.proj";
  ma.tensors[1].name = mb.tensors[1].name = "logit_scale";
  auto groups = core::DiffWeights(store, ma, mb, 1);
  REQUIRE(groups.size() == 2);
  REQUIRE(groups[0].group == "visual.head");
  REQUIRE(groups[0].rel_l2 == Approx(0.2));
  REQUIRE(groups[0].changed_share == Approx(0.5));
  REQUIRE(groups[0].stored_bytes > 0);
  REQUIRE(groups[1].rel_l2 == 0);
  REQUIRE(groups[1].changed_share == 0);
  REQUIRE(groups[1].stored_bytes == 0);
}
