// GPU parity of the row reductions (kernels/rows.cu: argmax_last, max_last, sum_last and their
// backwards) and of the eval-mode BN statistics against the CPU, with guard elements around
// every output. Rows hold ties, NaNs and all -inf rows; widths below, at and above the block size.
#ifdef ISHSCALE_CUDA
#include <cmath>

#include "engine/backend.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/backend.h"
#include "engine/ops.h"
#include "tests/test_gpu_util.h"

using namespace ish;
using namespace ish::gputest;

namespace {

// Bitwise-equal values, NaN matching NaN (close() would call inf - inf a mismatch).
template <class T>
void check_same(const std::vector<T>& a, const std::vector<T>& ref, const char* what) {
  REQUIRE(a.size() == ref.size());
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); i++)
    if (!(a[i] == ref[i] || (std::isnan((double)a[i]) && std::isnan((double)ref[i])))) bad++;
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << a.size() << " values differ");
}

// Random rows with planted ties of the maximum, NaNs and an all -inf row.
std::vector<float> tricky_rows(int64_t N, int64_t D, uint64_t seed) {
  auto v = rand_int(N * D, seed, -20, 20);  // small integers: many ties
  if (N > 1) v[(size_t)(1 * D + D - 1)] = NAN;
  if (N > 2) {
    v[(size_t)(2 * D + D / 2)] = NAN;
    v[(size_t)(2 * D + D - 1)] = NAN;  // two NaNs: the first wins
  }
  if (N > 3)
    for (int64_t j = 0; j < D; j++) v[(size_t)(3 * D + j)] = -INFINITY;
  if (N > 4) v[(size_t)(4 * D + D - 1)] = INFINITY;
  return v;
}

void check_rows(int64_t N, int64_t D, uint64_t seed) {
  CAPTURE(N);
  CAPTURE(D);
  const auto x = tricky_rows(N, D, seed);
  auto g = rand_uniform(N, seed + 1);
  std::vector<int64_t> idx_ref((size_t)N);
  std::vector<float> max_ref((size_t)N), sum_ref((size_t)N), scat_ref((size_t)(N * D)), bc_ref((size_t)(N * D));
  cpu::row_argmax<float>(N, D, x.data(), idx_ref.data());
  cpu::row_gather<float>(N, D, x.data(), idx_ref.data(), max_ref.data());
  cpu::row_scatter<float>(N, D, g.data(), idx_ref.data(), scat_ref.data());
  auto xs = rand_uniform(N * D, seed + 2);  // the sums on finite values
  cpu::row_sum<float>(N, D, xs.data(), sum_ref.data());
  cpu::row_broadcast<float>(N, D, g.data(), bc_ref.data());

  DevBuf<float> dx(x), dxs(xs), dg(g), dmax(N), dsum(N), dscat(N * D), dbc(N * D);
  DevBuf<int64_t> didx(N);
  cuda::row_argmax(N, D, dx.ptr(), didx.ptr());
  cuda::row_gather(N, D, dx.ptr(), didx.ptr(), dmax.ptr());
  cuda::row_scatter(N, D, dg.ptr(), didx.ptr(), dscat.ptr());
  cuda::row_sum(N, D, dxs.ptr(), dsum.ptr());
  cuda::row_broadcast(N, D, dg.ptr(), dbc.ptr());
  CHECK(didx.get() == idx_ref);
  check_same(dmax.get(), max_ref, "max_last");
  check_same(dscat.get(), scat_ref, "max_last backward");
  close(dsum.get(), sum_ref, 1e-6, 1e-6, "sum_last");  // both in double; only the order differs
  check_same(dbc.get(), bc_ref, "sum_last backward");
  for (auto* b : {&dmax, &dsum, &dscat, &dbc}) CHECK(b->guards_ok());
  CHECK(didx.guards_ok());
}

}  // namespace

TEST_SUITE("gpu") {
TEST_CASE("gpu rows: argmax/max/sum over the last dim match the CPU (ties, NaN, -inf rows)") {
  check_rows(7, 1, 301);
  check_rows(9, 10, 302);
  check_rows(5, 256, 303);
  check_rows(33, 1000, 304);  // wider than a block
  check_rows(3, 70001, 305);
}

TEST_CASE("gpu rows: argmax_last and max_last ops on cuda tensors match the CPU, with gradient") {
  const int64_t N = 6, D = 37;
  Tensor xc = Tensor::from_f32(tricky_rows(N, D, 311), {N, D});
  Tensor xg = xc.to(Device::CUDA);
  CHECK(ops::argmax_last(xg).to(Device::CPU).to_f64_vector() == ops::argmax_last(xc).to_f64_vector());
  xc.set_requires_grad(true);
  xg.set_requires_grad(true);
  Tensor yc = ops::max_last(xc), yg = ops::max_last(xg);
  check_same(yg.to(Device::CPU).to_f64_vector(), yc.to_f64_vector(), "max_last op");
  Tensor seed = Tensor::from_f32(rand_uniform(N, 312), {N});
  autograd::backward(yc, seed);
  autograd::backward(yg, seed.to(Device::CUDA));
  CHECK(xg.grad().to(Device::CPU).to_f64_vector() == xc.grad().to_f64_vector());
}

TEST_CASE("gpu bn_eval_stats: the cuda table entry matches the CPU one") {
  const int64_t C = 300;
  auto rm = rand_uniform(C, 321, -3, 3), rv = rand_uniform(C, 322, 0, 5);
  rv[0] = 0;
  rv[1] = 1e-7f;
  const double eps = 1e-5;
  Tensor trm = Tensor::from_f32(rm, {C}), trv = Tensor::from_f32(rv, {C});
  Tensor m_ref = Tensor::empty({C}), is_ref = Tensor::empty({C});
  cpu_backend().bn_eval_stats(C, trm, trv, eps, m_ref, is_ref);
  DevBuf<float> drm(rm), drv(rv), dm(C), dis(C);
  cuda::bn_eval_stats(C, drm.ptr(), drv.ptr(), eps, dm.ptr(), dis.ptr());
  const float *pm = m_ref.data<float>(), *pi = is_ref.data<float>();
  const std::vector<float> mr(pm, pm + C), ir(pi, pi + C);
  // Both compute 1/sqrt in double and round once; the device's double sqrt and division are IEEE.
  check_same(dm.get(), mr, "bn eval mean");
  check_same(dis.get(), ir, "bn eval invstd");
  CHECK(dm.guards_ok());
  CHECK(dis.guards_ok());
}
}  // TEST_SUITE
#endif
