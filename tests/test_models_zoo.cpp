// models/zoo.h (names, aliases, families, create) and models::Net over each family, and model_meta's
// inference of ViTs and Swins from torchvision's tensor names and shapes (no file needed: the shapes of
// freshly built models, uninitialised).
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "models/model_meta.h"
#include "models/swin.h"
#include "models/vit.h"
#include "models/zoo.h"

using namespace ish;
using models::zoo::Family;

namespace {
template <class M>
models::ShapeList shapes_of(M& m) {
  models::ShapeList s;
  for (auto& [name, t] : models::state_dict(m)) s.emplace_back(name, t.shape());
  return s;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("zoo: canonical names, aliases and families") {
  CHECK(models::zoo::canonical("vit-b-16") == "vit_b_16");
  CHECK(models::zoo::canonical("swin-t") == "swin_t");
  CHECK(models::zoo::canonical("resnet50") == "resnet50");
  CHECK(models::zoo::canonical("resnet-50") == "");  // no '-' spelling for ResNets
  CHECK(models::zoo::canonical("vit_b_99") == "");
  CHECK(models::zoo::family("vit_l_32") == Family::ViT);
  CHECK(models::zoo::family("swin-b") == Family::Swin);
  CHECK(models::zoo::family("resnet18_cifar") == Family::ResNet);
  CHECK(models::zoo::is_transformer("swin_s"));
  CHECK_FALSE(models::zoo::is_transformer("resnet152"));
  CHECK_THROWS_WITH(models::zoo::require("convnext_t"), doctest::Contains("unknown --arch 'convnext_t'"));
  auto a = models::zoo::archs();
  for (const char* n : {"resnet50", "resnet18_cifar", "vit_b_16", "vit_h_14", "swin_t", "swin_b"})
    CHECK(std::find(a.begin(), a.end(), n) != a.end());
}

TEST_CASE("zoo: create gives a Net of each family with its head, features and input size") {
  struct Case { const char* arch; const char* family; const char* head; int D, input; };
  for (const Case& c : {Case{"resnet18_cifar", "resnet", "fc", 512, 0}}) {
    auto n = models::zoo::create(c.arch, 7, 1);
    CHECK(n->arch() == c.arch);
    CHECK(std::string(n->family()) == c.family);
    CHECK(std::string(n->head_name()) == c.head);
    CHECK(n->head_weight().shape() == Shape{7, c.D});
    CHECK(n->head_bias().shape() == Shape{7});
    CHECK(n->input_size() == c.input);
    CHECK(n->width() == 64);
  }
  // A reduced ViT and Swin through the adapter: forward gives what the model gives, and head(features) the logits.
  models::ViTConfig vc;
  vc.image_size = 16;
  vc.patch_size = 8;
  vc.num_layers = 1;
  vc.num_heads = 2;
  vc.hidden_dim = 8;
  vc.mlp_dim = 16;
  vc.num_classes = 5;
  models::VisionTransformer vit(vc, "vit_mini");
  Tensor x = ops::randn({2, 16, 16, 3}, 9);
  Tensor want = vit.forward(x).logits;
  auto v = models::view(vit);
  CHECK(std::string(v.family()) == "vit");
  CHECK(v.input_size() == 16);
  CHECK(v.width() == 0);
  CHECK(v.head_weight().shape() == Shape{5, 8});
  models::Net::Output o = v.forward(x);
  CHECK(o.features.shape() == Shape{2, 8});
  CHECK(o.logits.to_f64_vector() == want.to_f64_vector());
  models::SwinConfig sc;
  sc.embed_dim = 8;
  sc.depths = {1, 1};
  sc.num_heads = {1, 2};
  sc.window_h = sc.window_w = 2;
  sc.num_classes = 3;
  auto sw = models::wrap(models::SwinTransformer(sc, "swin_mini"));
  CHECK(std::string(sw->family()) == "swin");
  CHECK(sw->input_size() == 0);
  CHECK(sw->head_weight().shape() == Shape{3, 16});
  CHECK(sw->forward(x).features.shape() == Shape{2, 16});
  // The alias gives the canonical name.
  auto named = models::zoo::create("swin-t", 4, 2);
  CHECK(named->arch() == "swin_t");
  CHECK(named->feature_dim() == 768);
}

TEST_CASE("model_meta: ViTs and Swins are inferred from torchvision's tensor names and shapes") {
  {
    auto m = models::VisionTransformer::create("vit_b_16", 10, 0, /*init=*/false);
    models::Inferred inf = models::infer_arch(shapes_of(m));
    CHECK(inf.archs == std::vector<std::string>{"vit_b_16"});
    CHECK(inf.num_classes == 10);
    CHECK(inf.image_size == 224);
    CHECK(inf.in_channels == 3);
    CHECK(inf.width == 0);
  }
  {
    models::ViTConfig c = models::vit_config_for("vit_b_32");
    c.image_size = 384;  // a fine-tuned size: the position embedding tells it
    c.init = false;
    models::VisionTransformer m(c, "vit_b_32");
    models::Inferred inf = models::infer_arch(shapes_of(m));
    CHECK(inf.archs == std::vector<std::string>{"vit_b_32"});
    CHECK(inf.image_size == 384);
    // Without its encoder layers past the 6th, it is no known ViT; the message says what was seen.
    models::ShapeList cut;
    for (auto& e : shapes_of(m))
      if (e.first.find("encoder_layer_6") == std::string::npos && e.first.find("encoder_layer_7") == std::string::npos &&
          e.first.find("encoder_layer_8") == std::string::npos && e.first.find("encoder_layer_9") == std::string::npos &&
          e.first.find("encoder_layer_1") == std::string::npos)
        cut.push_back(e);
    models::Inferred bad = models::infer_arch(cut);
    CHECK(bad.archs.empty());
    CHECK_MESSAGE(bad.seen.find("6 layers") != std::string::npos, bad.seen);
  }
  for (const char* arch : {"swin_t", "swin_s", "swin_b"}) {
    auto m = models::SwinTransformer::create(arch, 12, 0, /*init=*/false);
    models::Inferred inf = models::infer_arch(shapes_of(m));
    CHECK(inf.archs == std::vector<std::string>{arch});
    CHECK(inf.num_classes == 12);
    CHECK(inf.image_size == 0);  // any size
  }
  // resolve_model: an alias given as --arch is the canonical name; --width is refused for a transformer.
  auto m = models::SwinTransformer::create("swin_t", 12, 0, false);
  models::Inferred inf = models::infer_arch(shapes_of(m));
  models::ModelMeta given;
  given.arch = "swin-t";
  CHECK(models::resolve_model({}, inf, given, "f.pth").arch == "swin_t");
  given.width = 64;
  CHECK_THROWS_WITH(models::resolve_model({}, inf, given, "f.pth"), doctest::Contains("--width applies to ResNets"));
}
}
