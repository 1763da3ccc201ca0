// Every CPU op against PyTorch goldens (tools/fixtures_ops.py): forward output, every input
// gradient and every parameter gradient. Tolerance: relative error (max|a-b| / max|b|) <= 1e-5
// in fp32, the bound; fp32 summation order differs from torch's, nothing more.
#include "engine/ops.h"
#include "tests/util.h"

using namespace ish;
using ish::test::load_fixture;

namespace {
constexpr double kRel = 1e-5;

void expect_rel(const Tensor& got, const Tensor& ref, const std::string& what) {
  REQUIRE_MESSAGE(got.defined(), what << " missing");
  REQUIRE_MESSAGE(got.shape() == ref.shape(), what << " shape " << shape_str(got.shape()) << " vs " << shape_str(ref.shape()));
  double e = test::rel_error(got, ref);
  CHECK_MESSAGE(e <= kRel, what << " rel err " << e);
}
Tensor param(std::map<std::string, Tensor>& f, const std::string& k) { return f.at(k).set_requires_grad(true); }
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("conv2d matches torch (forward, dx, dw, db)") {
  for (const char* name : {"7x7s2", "3x3s1", "3x3s2", "1x1s2", "1x1s1", "3x3d2_bias", "5x5s3p1_bias"}) {
    std::string case_name = name;
    CAPTURE(case_name);
    auto f = load_fixture(std::string("op_conv_") + name + ".safetensors");
    auto prm = f.at("params").to_f64_vector();
    Tensor x = param(f, "x"), w = param(f, "w"), b = f.count("b") ? param(f, "b") : Tensor();
    Tensor y = ops::conv2d(x, w, b, ops::Conv2dParams::make((int)prm[0], (int)prm[1], (int)prm[2]));
    expect_rel(y, f.at("y"), std::string(name) + " y");
    autograd::backward(y, f.at("gy"));
    expect_rel(x.grad(), f.at("dx"), std::string(name) + " dx");
    expect_rel(w.grad(), f.at("dw"), std::string(name) + " dw");
    if (b.defined()) expect_rel(b.grad(), f.at("db"), std::string(name) + " db");
  }
}

TEST_CASE("batch_norm matches torch in train and eval mode, fused add+relu, running stats") {
  struct Case { const char* name; bool training, residual, relu; };
  for (Case c : {Case{"train", true, false, false}, Case{"train_relu", true, false, true},
                 Case{"train_add_relu", true, true, true}, Case{"eval", false, false, false},
                 Case{"eval_add_relu", false, true, true}}) {
    std::string case_name = c.name;
    CAPTURE(case_name);
    auto f = load_fixture(std::string("op_bn_") + c.name + ".safetensors");
    Tensor x = param(f, "x"), gamma = param(f, "gamma"), beta = param(f, "beta");
    Tensor r = c.residual ? param(f, "r") : Tensor();
    Tensor rm = f.at("rm0").clone(), rv = f.at("rv0").clone();
    ops::BNParams p;
    p.training = c.training;
    p.relu = c.relu;
    Tensor y = ops::batch_norm(x, gamma, beta, rm, rv, p, r);
    expect_rel(y, f.at("y"), "y");
    expect_rel(rm, f.at("rm"), "running_mean");
    expect_rel(rv, f.at("rv"), "running_var");
    autograd::backward(y, f.at("gy"));
    expect_rel(x.grad(), f.at("dx"), "dx");
    expect_rel(gamma.grad(), f.at("dgamma"), "dgamma");
    expect_rel(beta.grad(), f.at("dbeta"), "dbeta");
    if (c.residual) expect_rel(r.grad(), f.at("dr"), "dresidual");
  }
}

TEST_CASE("max_pool2d matches torch (ResNet's 3x3/2/1 and general cases)") {
  for (const char* name : {"3x3s2p1", "2x2s2", "3x3s1p1d2", "3x3s2ceil"}) {
    std::string case_name = name;
    CAPTURE(case_name);
    auto f = load_fixture(std::string("op_maxpool_") + name + ".safetensors");
    auto prm = f.at("params").to_f64_vector();
    ops::Pool2dParams p = ops::Pool2dParams::make((int)prm[0], (int)prm[1], (int)prm[2], (int)prm[3]);
    p.ceil_mode = prm[4] != 0;
    Tensor x = param(f, "x");
    Tensor y = ops::max_pool2d(x, p);
    // Max pooling selects inputs: exact.
    CHECK(test::compare(y, f.at("y"), 0, 0).ok);
    autograd::backward(y, f.at("gy"));
    expect_rel(x.grad(), f.at("dx"), "dx");
  }
}

TEST_CASE("global_avg_pool, linear and cross_entropy match torch") {
  {
    auto f = load_fixture("op_gap.safetensors");
    Tensor x = param(f, "x");
    Tensor y = ops::global_avg_pool(x);
    expect_rel(y, f.at("y"), "gap y");
    autograd::backward(y, f.at("gy"));
    expect_rel(x.grad(), f.at("dx"), "gap dx");
  }
  {
    auto f = load_fixture("op_linear.safetensors");
    Tensor x = param(f, "x"), w = param(f, "w"), b = param(f, "b");
    Tensor y = ops::linear(x, w, b);
    expect_rel(y, f.at("y"), "linear y");
    autograd::backward(y, f.at("gy"));
    expect_rel(x.grad(), f.at("dx"), "linear dx");
    expect_rel(w.grad(), f.at("dw"), "linear dw");
    expect_rel(b.grad(), f.at("db"), "linear db");
  }
  for (const char* name : {"ce", "ce_smooth"}) {
    std::string case_name = name;
    CAPTURE(case_name);
    auto f = load_fixture(std::string("op_") + name + ".safetensors");
    Tensor z = param(f, "z");
    Tensor loss = ops::cross_entropy(z, f.at("labels"), f.at("smoothing").item());
    expect_rel(loss, f.at("loss"), "loss");
    autograd::backward(loss, f.at("gy"));
    expect_rel(z.grad(), f.at("dz"), "dlogits");
  }
}
}
