// Shared checks of the torchvision transformer model tests (ViT and Swin have the same model API)
// against the reduced-config goldens of tools/fixtures_transformer.py (_vit) and tools/fixtures_swin.py:
// x, logits, features (fp32), logits64, features64, labels, loss64 and grad64.<parameter> (fp64).
#pragma once
#include <map>
#include <string>

#include "engine/ops.h"
#include "models/swin.h"
#include "models/vit.h"
#include "tests/util.h"

namespace ish::test {

using Golden = std::map<std::string, Tensor>;

// The reduced configurations the fixture modules build (keep in step with them).
models::ViTConfig vit_small_config();
models::SwinConfig swin_small_config();
// Those models with the fixtures' random weights (vit_small_ref / swin_small_ref.safetensors).
models::VisionTransformer vit_small();
models::SwinTransformer swin_small();

// REQUIRE equal sizes, then every entry of `sd` has ref's name at the same place and its bytes.
void check_same_state(const models::NamedTensors& sd, const models::NamedTensors& ref, const std::string& what);

// Eval forward of g["x"]: logits and features against torchvision's within `tol` (relative error), and
// head(features) gives the logits to the bit. Returns the output.
template <class Model>
typename Model::Output check_eval(Model& m, const Golden& g, const std::string& tag, double tol = 1e-4) {
  m.eval();
  NoGradGuard ng;
  auto out = m.forward(g.at("x"));
  const double el = check_rel(out.logits, g.at("logits"), tol, tag + " logits");
  const double ef = check_rel(out.features, g.at("features"), tol, tag + " features");
  CHECK(compare(m.head(out.features), out.logits, 0, 0).ok);
  MESSAGE(tag << " fp32: logits rel err " << el << ", features rel err " << ef);
  return out;
}

// The fp64 train-mode step (the fixtures' dropout and stochastic depth do nothing: the eval function):
// logits, features and the cross-entropy loss within 1e-10, then every parameter gradient against
// grad64.<name> within `tol`; the golden holds exactly as many. `conv_weight` is the patch embedding,
// held KRSC here and KCRS in torch. Returns the number of parameters checked.
template <class Model>
int check_fp64_grads(Model& m, const Golden& g, const std::string& tag, const std::string& conv_weight,
                     double tol = 1e-6) {
  m.to(DType::F64);
  m.train();
  auto out = m.forward(g.at("x").to(DType::F64));
  check_rel(out.logits, g.at("logits64"), 1e-10, "fp64 logits");
  check_rel(out.features, g.at("features64"), 1e-10, "fp64 features");
  Tensor loss = ops::cross_entropy(out.logits, g.at("labels"));
  check_rel(loss.view({1}), g.at("loss64"), 1e-10, "fp64 loss");
  loss.backward();
  double worst = 0;
  std::string worst_name;
  int n = 0;
  for (auto& [name, p] : m.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), name << " got no gradient");
    Tensor gr = p.grad();
    if (name == conv_weight) gr = models::krsc_to_kcrs(gr);
    const double e = check_rel(gr, g.at("grad64." + name), tol, "grad " + name);
    if (e > worst) { worst = e; worst_name = name; }
    n++;
  }
  int golden = 0;
  for (auto& [k, t] : g)
    if (k.rfind("grad64.", 0) == 0) golden++;
  CHECK(n == golden);
  MESSAGE(tag << " fp64: worst of " << n << " parameter gradients " << worst << " (" << worst_name << ")");
  return n;
}

// The gpu-suite twin (the caller turns TF32 off): gpu_m moved to cuda gives torchvision's eval logits
// and features within 1e-4, every parameter gradient of the cross-entropy backward within 1e-4 of
// cpu_m's (the same weights on the CPU), and the state exported from the device is `ref_file` bit for bit.
template <class Model>
void check_gpu_twin(Model& cpu_m, Model& gpu_m, const Golden& g, const std::string& ref_file) {
  gpu_m.to(Device::CUDA);
  {
    NoGradGuard ng;
    auto out = gpu_m.forward(g.at("x").to(Device::CUDA));
    REQUIRE(out.logits.device() == Device::CUDA);
    CHECK(rel_error(out.logits.to(Device::CPU), g.at("logits")) <= 1e-4);
    CHECK(rel_error(out.features.to(Device::CPU), g.at("features")) <= 1e-4);
  }
  Tensor lc = ops::cross_entropy(cpu_m.forward(g.at("x")).logits, g.at("labels"));
  Tensor lg = ops::cross_entropy(gpu_m.forward(g.at("x").to(Device::CUDA)).logits, g.at("labels").to(Device::CUDA));
  lc.backward();
  lg.backward();
  auto pc = cpu_m.named_parameters(), pg = gpu_m.named_parameters();
  REQUIRE(pc.size() == pg.size());
  for (size_t i = 0; i < pc.size(); i++) {
    REQUIRE_MESSAGE(pg[i].second.grad().defined(), pg[i].first << " got no gradient on cuda");
    const double e = rel_error(pg[i].second.grad().to(Device::CPU), pc[i].second.grad());
    CHECK_MESSAGE(e <= 1e-4, pc[i].first << ": gpu vs cpu gradient rel err " << e);
  }
  auto ref = load_fixture(ref_file);
  for (auto& [n, t] : models::state_dict(gpu_m)) CHECK_MESSAGE(same_bytes(t, ref.at(n)), n);
}

}  // namespace ish::test
