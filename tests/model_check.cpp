#include "tests/model_check.h"

namespace ish::test {

models::ViTConfig vit_small_config() {
  models::ViTConfig c;
  c.image_size = 32;
  c.patch_size = 8;
  c.num_layers = 2;
  c.num_heads = 4;
  c.hidden_dim = 48;
  c.mlp_dim = 96;
  c.num_classes = 10;
  return c;
}

models::SwinConfig swin_small_config() {
  models::SwinConfig c;
  c.patch_size = 4;
  c.embed_dim = 16;
  c.depths = {2, 2, 2};
  c.num_heads = {2, 2, 4};
  c.window_h = 4;
  c.window_w = 3;
  c.num_classes = 10;
  return c;
}

models::VisionTransformer vit_small() {
  models::VisionTransformer m(vit_small_config(), "vit_small");
  models::load_weights(m, fixture_dir() + "/vit_small_ref.safetensors");
  return m;
}

models::SwinTransformer swin_small() {
  models::SwinTransformer m(swin_small_config(), "swin_small");
  models::load_weights(m, fixture_dir() + "/swin_small_ref.safetensors");
  return m;
}

void check_same_state(const models::NamedTensors& sd, const models::NamedTensors& ref, const std::string& what) {
  REQUIRE_MESSAGE(sd.size() == ref.size(), what << ": " << sd.size() << " entries vs " << ref.size());
  for (size_t i = 0; i < sd.size(); i++) {
    CHECK_MESSAGE(sd[i].first == ref[i].first, what << ": " << i << ": " << sd[i].first << " vs " << ref[i].first);
    CHECK_MESSAGE(same_bytes(sd[i].second, ref[i].second), what << ": " << sd[i].first << " differs");
  }
}

}  // namespace ish::test
