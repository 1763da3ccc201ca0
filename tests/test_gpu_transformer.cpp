// GPU parity of the transformer ops (kernels/transformer.cu, cuBLAS strided-batched GEMM) against the
// CPU reference: each op runs forward and backward through the op layer on both devices from the same
// fp32 inputs and upstream gradient, at sizes below, at and above the 256-thread block. TF32 off.
#ifdef ISHSCALE_CUDA
#include <functional>

#include "engine/cpu/transformer.h"
#include "engine/cuda/transformer.h"
#include "engine/ops.h"
#include "tests/model_check.h"
#include "tests/test_gpu_util.h"
#include "tests/util.h"

using namespace ish;
using namespace ish::gputest;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on CPU and CUDA copies of `inputs`, backward with the same random gradient, and compares the
// output and every input gradient at |a-b| <= atol + rtol*|b|. Default 1e-5: fp32 results of sums taken
// in another order (cuBLAS tiles, block trees) over at most ~1000 O(1) terms; the row statistics
// accumulate in double on both devices.
void twin(const std::string& name, const Fn& f, const std::vector<Shape>& shapes, double rtol = 1e-5,
          double atol = 1e-5, uint64_t seed = 1) {
  CAPTURE(name);
  StrictFp32 strict;
  std::vector<Tensor> c, g;
  for (size_t i = 0; i < shapes.size(); i++) {
    Tensor t = ops::randn(shapes[i], seed + i);
    c.push_back(t.clone().set_requires_grad(true));
    g.push_back(t.to(Device::CUDA).set_requires_grad(true));
  }
  Tensor yc = f(c), yg = f(g);
  REQUIRE(yg.device() == Device::CUDA);
  test::check_close(yg.to(Device::CPU), yc, rtol, atol, name + " forward");
  Tensor gy = ops::randn(yc.shape(), seed + 100);
  autograd::backward(yc, gy);
  autograd::backward(yg, gy.to(Device::CUDA));
  for (size_t i = 0; i < c.size(); i++) {
    REQUIRE_MESSAGE(g[i].grad().defined(), name << ": input " << i << " got no gradient on cuda");
    test::check_close(g[i].grad().to(Device::CPU), c[i].grad(), rtol, atol, name + " grad " + std::to_string(i));
  }
}

}  // namespace

TEST_SUITE("gpu") {
TEST_CASE("gpu transformer ops: layer_norm, gelu, softmax match the CPU (forward and backward)") {
  for (int64_t D : {7, 256, 768, 1000}) {
    twin("layer_norm D=" + std::to_string(D), [](auto& v) { return ops::layer_norm(v[0], v[1], v[2], 1e-6); },
         {{5, 3, D}, {D}, {D}});
    twin("softmax D=" + std::to_string(D), [](auto& v) { return ops::softmax_last(v[0]); }, {{4, 3, D}});
  }
  twin("gelu", [](auto& v) { return ops::gelu(v[0]); }, {{7, 1001}});
}

TEST_CASE("gpu attention_softmax: scale, bias and window mask match the CPU (forward and backward)") {
  // ViT-sized rows (197 > a warp's 32 lanes), no bias or mask.
  twin("attention_softmax vit", [](auto& v) { return ops::attention_softmax(v[0], 0.125); }, {{2, 3, 197, 197}});
  // Swin-sized: 49-token windows, the relative position bias (gets a gradient) and the shifted-window mask
  // [4,49,49] of a 14x14 map broadcast over batch 2 x heads 3 (windows innermost in the batch).
  const Tensor m = ops::shifted_window_mask(14, 14, 7, 7, 3, 3), mg = m.to(Device::CUDA);
  twin("attention_softmax swin", [=](auto& v) { return ops::attention_softmax(v[0], 0.17677669, v[1], v[0].is_cuda() ? mg : m); },
       {{8, 3, 49, 49}, {3, 49, 49}});
  // Nq != Nk, a row shorter than a warp, scale 1.
  twin("attention_softmax short rows", [](auto& v) { return ops::attention_softmax(v[0], 1.0, v[1]); },
       {{3, 2, 5, 7}, {2, 5, 7}});
}

TEST_CASE("gpu attn_softmax launcher writes exactly its output (guard elements) and matches the CPU kernel") {
  const int64_t B = 4, H = 2, Nq = 9, Nk = 40, nW = 2;
  const auto x = rand_uniform(B * H * Nq * Nk, 21, -4, 4), bias = rand_uniform(H * Nq * Nk, 22),
             mask = rand_uniform(nW * Nq * Nk, 23, -100, 0);
  std::vector<float> y(x.size());
  cpu::attn_softmax<float>(B, H, Nq, Nk, x.data(), 0.3, bias.data(), mask.data(), nW, y.data());
  DevBuf<float> gx(x), gb(bias), gm(mask), gy(x.size());
  cuda::attn_softmax(B, H, Nq, Nk, gx.ptr(), 0.3f, gb.ptr(), gm.ptr(), nW, gy.ptr());
  // Float scores on both sides, sums in double: the exps (2 ulp each) and the sum order differ.
  close(gy.get(), y, 1e-5, 1e-9, "attn_softmax");
  CHECK(gy.guards_ok());
}

TEST_CASE("gpu transformer ops: bmm (cuBLAS strided-batched), permute, narrow, cat, broadcasts") {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      twin("bmm " + std::to_string(ta) + std::to_string(tb), [=](auto& v) { return ops::bmm(v[0], v[1], ta, tb); },
           {ta ? Shape{6, 64, 197} : Shape{6, 197, 64}, tb ? Shape{6, 33, 64} : Shape{6, 64, 33}}, 1e-5, 1e-4);
  twin("permute qkv", [](auto& v) { return ops::permute(v[0], {2, 0, 3, 1, 4}); }, {{2, 17, 3, 4, 12}});
  twin("permute last dim moves", [](auto& v) { return ops::permute(v[0], {3, 1, 0, 2}); }, {{3, 5, 7, 2}});
  twin("narrow", [](auto& v) { return ops::narrow(v[0], 1, 0, 1); }, {{3, 17, 48}});
  twin("cat", [](auto& v) { return ops::cat({v[0], v[1]}, 1); }, {{3, 1, 48}, {3, 16, 48}});
  twin("expand0", [](auto& v) { return ops::expand0(v[0], 300); }, {{1, 1, 48}});
  twin("add_broadcast", [](auto& v) { return ops::add_broadcast(v[0], v[1]); }, {{3, 17, 48}, {1, 17, 48}}, 1e-5, 1e-5);
  twin("linear [..., K]", [](auto& v) { return ops::linear(v[0], v[1], v[2]); }, {{2, 17, 48}, {96, 48}, {96}}, 1e-5,
       1e-4);
}

TEST_CASE("models gpu: the reduced torchvision ViT on cuda matches torchvision (eval) and the CPU (gradients)") {
  StrictFp32 strict;
  auto cpu_m = test::vit_small(), gpu_m = test::vit_small();
  test::check_gpu_twin(cpu_m, gpu_m, test::load_fixture("vit_small_golden.safetensors"), "vit_small_ref.safetensors");
}

TEST_CASE("gpu transformer launchers write exactly their outputs (guard elements) and match the CPU kernels") {
  const int64_t M = 37, D = 300;
  const auto x = rand_uniform(M * D, 11, -3, 3), gam = rand_uniform(D, 12), bet = rand_uniform(D, 13),
             dy = rand_uniform(M * D, 14);
  std::vector<float> y(M * D), mean(M), rstd(M), dx(M * D), dg(D), db(D), sm(M * D), perm(M * D), cs(D);
  cpu::layer_norm_fwd<float>(M, D, x.data(), gam.data(), bet.data(), 1e-5, y.data(), mean.data(), rstd.data());
  cpu::layer_norm_bwd<float>(M, D, dy.data(), x.data(), gam.data(), mean.data(), rstd.data(), dx.data(), dg.data(),
                             db.data());
  cpu::softmax<float>(M, D, x.data(), sm.data());
  cpu::permute({M, 3, 100}, {2, 0, 1}, sizeof(float), x.data(), perm.data());
  cpu::col_sum<float>(M, D, x.data(), cs.data());
  DevBuf<float> gx(x), gg(gam), gb(bet), gdy(dy), gy(M * D), gmean(M), grstd(M), gdx(M * D), gdg(D), gdb(D),
      gsm(M * D), gperm(M * D), gcs(D), gblk(5 * 40);
  cuda::layer_norm_fwd(M, D, gx.ptr(), gg.ptr(), gb.ptr(), 1e-5, gy.ptr(), gmean.ptr(), grstd.ptr());
  cuda::layer_norm_bwd(M, D, gdy.ptr(), gx.ptr(), gg.ptr(), gmean.ptr(), grstd.ptr(), gdx.ptr(), gdg.ptr(), gdb.ptr());
  cuda::softmax(M, D, gx.ptr(), gsm.ptr());
  cuda::permute({M, 3, 100}, {2, 0, 1}, gx.ptr(), gperm.ptr());
  cuda::col_sum(M, D, gx.ptr(), gcs.ptr());
  cuda::copy_blocks(5, 40, gx.ptr() + 7, 0, gblk.ptr(), 40);  // stride 0: one block repeated
  // Double accumulation on both sides: only the order of the sums differs.
  close(gy.get(), y, 1e-6, 1e-6, "layer_norm y");
  close(gmean.get(), mean, 1e-6, 1e-6, "layer_norm mean");
  close(grstd.get(), rstd, 1e-6, 1e-6, "layer_norm rstd");
  close(gdx.get(), dx, 1e-6, 1e-6, "layer_norm dx");
  close(gdg.get(), dg, 1e-6, 1e-6, "layer_norm dgamma");
  close(gdb.get(), db, 1e-6, 1e-6, "layer_norm dbeta");
  close(gsm.get(), sm, 1e-6, 1e-9, "softmax");
  close(gcs.get(), cs, 1e-6, 1e-6, "col_sum");
  CHECK(bitwise_equal(gperm.get(), perm));
  std::vector<float> blk(5 * 40);
  for (int o = 0; o < 5; o++)
    for (int j = 0; j < 40; j++) blk[(size_t)(o * 40 + j)] = x[(size_t)(7 + j)];
  CHECK(bitwise_equal(gblk.get(), blk));
  for (auto* b : {&gy, &gmean, &grstd, &gdx, &gdg, &gdb, &gsm, &gperm, &gcs, &gblk}) CHECK(b->guards_ok());
}

TEST_CASE("gpu swin ops: roll, windows, patch merging, the bias gather and its deterministic backward") {
  twin("roll", [](auto& v) { return ops::roll(ops::roll(v[0], 1, -3), 2, -3); }, {{2, 14, 14, 24}});
  twin("window_partition", [](auto& v) { return ops::window_partition(v[0], 7, 7); }, {{2, 14, 21, 24}});
  twin("patch_merge_gather", [](auto& v) { return ops::patch_merge_gather(v[0]); }, {{2, 14, 14, 24}});
  Tensor idx = ops::relative_position_index(7, 7), idx_gpu = idx.to(Device::CUDA);
  twin("index_select0", [=](auto& v) { return ops::index_select0(v[0], v[0].is_cuda() ? idx_gpu : idx); },
       {{169, 3}});
}
}
#endif
