// models/zoo.h (names, aliases, families, create) and models::Net over each family, and model_meta's
// inference of ViTs and Swins from torchvision's tensor names and shapes (no file needed: the shapes of
// freshly built models, uninitialised).
#include <doctest/doctest.h>

#include <random>

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
TEST_CASE("model_meta: inference survives mutated transformer state dicts (one clear error or a result)") {
  // Names and shapes come from untrusted files: drop entries, corrupt block indices, resize dims to
  // 0 / 1 / huge and change ranks, then infer and resolve. Anything but a result or ish::Error fails.
  // The full-size name and shape lists (file layout), from uninitialised models without copying their state.
  auto file_shapes = [](auto&& m) {
    models::ShapeList l;
    m.visit([&](const std::string& name, Tensor& t, models::EntryKind k) {
      const Shape& sh = t.shape();
      l.emplace_back(name, k == models::EntryKind::ConvWeight ? Shape{sh[0], sh[3], sh[1], sh[2]} : sh);
    });
    return l;
  };
  const models::ShapeList bases[] = {file_shapes(models::VisionTransformer::create("vit_b_16", 0, 0, false)),
                                     file_shapes(models::SwinTransformer::create("swin_t", 0, 0, false))};
  REQUIRE(models::infer_arch(bases[0]).archs == std::vector<std::string>{"vit_b_16"});
  REQUIRE(models::infer_arch(bases[1]).archs == std::vector<std::string>{"swin_t"});
  const char* digits[] = {"99999999999", "2147483647", "0", "", "-1", "007", "1x"};
  const int64_t dims[] = {0, 1, 3, 7, int64_t(1) << 40, 2147483647, 46341};
  std::mt19937 rng(15);
  int results = 0, errors = 0;
  for (int it = 0; it < 3000; it++) {
    models::ShapeList e = bases[it % 2];
    for (int k = 0, n = 1 + (int)(rng() % 8); k < n && !e.empty(); k++) {
      const size_t at = rng() % e.size();
      auto& [name, shape] = e[at];
      switch (rng() % 4) {
        case 0: e.erase(e.begin() + (std::ptrdiff_t)at); break;
        case 1: {  // replace the first run of digits in the name
          const size_t a = name.find_first_of("0123456789");
          if (a == std::string::npos) break;
          const size_t b = name.find_first_not_of("0123456789", a);
          name = name.substr(0, a) + digits[rng() % 7] + (b == std::string::npos ? "" : name.substr(b));
          break;
        }
        case 2:
          if (!shape.empty()) shape[rng() % shape.size()] = dims[rng() % 7];
          break;
        default:
          if (rng() % 2 && !shape.empty()) shape.pop_back();
          else shape.push_back(dims[rng() % 7]);
      }
    }
    try {
      models::Inferred inf = models::infer_arch(e);
      models::ModelMeta m = models::resolve_model({}, inf, {}, "mutated.pth");
      CHECK((m.arch == "vit_b_16" || m.arch == "swin_t"));
      results++;
    } catch (const Error& err) {
      CHECK(std::string(err.what()).find("mutated.pth") != std::string::npos);
      errors++;
    }
  }
  CHECK(errors > 0);
  CHECK(results > 0);
  // A block index past six digits is not a block; a huge position count is no input size.
  models::ShapeList odd = {{"features.1.99999999999.attn.relative_position_bias_table", {49, 3}},
                           {"encoder.pos_embedding", {1, 2147395601, 768}},  // 46340^2 + 1: the grid search stays in range
                           {"conv_proj.weight", {768, 3, 16, 16}}};
  models::Inferred inf = models::infer_arch(odd);
  CHECK(inf.image_size == 0);
  MESSAGE("mutations: ", results, " resolved, ", errors, " refused");
}
}
