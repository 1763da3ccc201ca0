// The training/input engine ops (ops::sgd_update_, ops::ish_shape, ops::normalize_u8) against the
// reference math they replaced in train/ (copied here verbatim as it stood), and the backend table:
// what a build without a CUDA backend says, and what a backend without a kernel says.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "engine/backend.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "tests/util.h"

using namespace ish;

namespace {

// train/sgd.cpp's sgd_update_cpu before the update became an engine op (options flattened).
template <class T>
void ref_sgd(int64_t n, T* p, const T* g, T* buf, double weight_decay, double momentum, double dampening,
             bool nesterov, double lr, bool first) {
  const T wd = (T)weight_decay, m = (T)momentum, damp1 = (T)(1.0 - dampening), alr = (T)lr;
  for (int64_t i = 0; i < n; i++) {
    T d = g[i];
    if (weight_decay != 0) d = d + wd * p[i];
    if (momentum != 0) {
      T b = first ? d : buf[i] * m + damp1 * d;
      buf[i] = b;
      d = nesterov ? d + m * b : b;
    }
    p[i] = p[i] - alr * d;
  }
}

// train/ish.cpp's ish_shape_cpu before ISH became an engine op (strategy as its integer value).
template <class T>
void ref_ish(int64_t N, int64_t D, int64_t k, int s, const T* x, T* out) {
  std::vector<int64_t> idx(D);
  for (int64_t r = 0; r < N; r++) {
    const T* xr = x + r * D;
    T* o = out + r * D;
    bool finite = true;
    double s1 = 0;
    for (int64_t j = 0; j < D; j++) {
      s1 += (double)xr[j];
      finite = finite && std::isfinite((double)xr[j]);
    }
    if (!finite) {
      std::fill(o, o + D, (T)NAN);
      continue;
    }
    std::iota(idx.begin(), idx.end(), 0);
    auto before = [&](int64_t a, int64_t b) {
      T fa = std::abs(xr[a]), fb = std::abs(xr[b]);
      return fa > fb || (fa == fb && a < b);
    };
    std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), before);
    double s2 = 0;
    for (int64_t i = 0; i < k; i++) s2 += (double)std::abs(xr[idx[i]]);
    std::fill(o, o + D, (T)0);
    if (s2 == 0) continue;
    double scale = s1 / s2;
    if (s == 1) {
      T f = (T)std::exp(scale);
      for (int64_t j = 0; j < D; j++) o[j] = xr[j] * f;
      continue;
    }
    T f = s == 0 ? (T)std::exp(scale) : (T)scale;
    for (int64_t i = 0; i < k; i++) o[idx[i]] = std::abs(xr[idx[i]]) * f;
  }
}

template <class T> std::vector<T> values(const Tensor& t) {
  std::vector<T> v((size_t)t.numel());
  Tensor h = t.to(Device::CPU);
  if (!v.empty()) std::memcpy(v.data(), h.raw(), v.size() * sizeof(T));
  return v;
}
// Bitwise equality, NaN equal to NaN.
template <class T> bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (!(std::isnan(a[i]) && std::isnan(b[i])) && std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return false;
  return true;
}
template <class T> Tensor tensor_of(const std::vector<T>& v, const Shape& s) {
  Tensor t = Tensor::empty(s, dtype_of<T>::value);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t;
}
template <class T> std::vector<T> uniform(size_t n, uint32_t seed, double lo, double hi) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& e : v) e = (T)u(g);
  return v;
}

template <class T> void check_sgd_matches_reference() {
  struct Cfg { double mom, damp, wd; bool nesterov; };
  const int64_t sizes[] = {1, 37, 1000};
  for (Cfg c : {Cfg{0.9, 0.0, 5e-4, true}, Cfg{0.9, 0.1, 1e-3, false}, Cfg{0.0, 0.0, 5e-5, false},
                Cfg{0.5, 0.0, 0.0, false}}) {
    CAPTURE(c.mom);
    CAPTURE(c.damp);
    CAPTURE(c.nesterov);
    std::vector<Tensor> params, bufs;
    std::vector<std::vector<T>> ref_p, ref_b;
    uint32_t seed = 10;
    for (int64_t n : sizes) {
      ref_p.push_back(uniform<T>((size_t)n, seed++, -1, 1));
      ref_b.push_back(std::vector<T>((size_t)n, T(0)));
      params.push_back(tensor_of(ref_p.back(), {n}));
      bufs.push_back(c.mom != 0 ? Tensor::zeros({n}, dtype_of<T>::value) : Tensor());
    }
    const double lrs[] = {0.1, 0.05, 0.003};
    for (int step = 0; step < 3; step++) {
      std::vector<ops::SgdParam> ps;
      for (size_t t = 0; t < params.size(); t++) {
        auto g = uniform<T>(ref_p[t].size(), 100 + 10 * step + (uint32_t)t, -2, 2);
        ref_sgd<T>((int64_t)g.size(), ref_p[t].data(), g.data(), c.mom != 0 ? ref_b[t].data() : nullptr, c.wd, c.mom,
                   c.damp, c.nesterov, lrs[step], step == 0);
        ps.push_back({params[t], tensor_of(g, {(int64_t)g.size()}), bufs[t], c.wd});
      }
      ops::sgd_update_(ps, {lrs[step], c.mom, c.damp, c.nesterov}, step == 0);
      for (size_t t = 0; t < params.size(); t++) {
        CHECK_MESSAGE(same_bits(values<T>(params[t]), ref_p[t]), "param " << t << " step " << step);
        if (c.mom != 0) CHECK_MESSAGE(same_bits(values<T>(bufs[t]), ref_b[t]), "buffer " << t << " step " << step);
      }
    }
  }
}

template <class T> void check_ish_matches_reference() {
  uint32_t seed = 200;
  for (int64_t D : {7, 256, 513})
    for (int kind = 0; kind < 3; kind++) {
      const int64_t N = 6;
      std::vector<T> x = uniform<T>((size_t)(N * D), seed++, -2, 2);
      if (kind == 0)
        for (auto& v : x) v = v < 0 ? T(0) : v;  // post-ReLU
      if (kind == 2)
        for (auto& v : x) v = std::round(v * 2);  // few distinct values: many ties
      for (int64_t j = 0; j < D; j++) x[(size_t)j] = 0;  // an all-zero row
      x[(size_t)(3 * D + 1)] = (T)NAN;                    // a non-finite row
      for (int s = 0; s < 3; s++)
        for (int64_t k : {(int64_t)1, std::max<int64_t>(1, D * 15 / 100), D}) {
          std::vector<T> ref((size_t)(N * D));
          ref_ish<T>(N, D, k, s, x.data(), ref.data());
          Tensor out = ops::ish_shape(tensor_of(x, {N, D}), (ops::IshStrategy)s, k);
          CHECK_MESSAGE(same_bits(values<T>(out), ref), "D " << D << " kind " << kind << " strategy " << s << " k " << k);
        }
    }
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("ops::sgd_update_ on the CPU equals train/'s former SGD math bitwise (f32, f64)") {
  check_sgd_matches_reference<float>();
  check_sgd_matches_reference<double>();
}

TEST_CASE("ops::sgd_update_ refuses a mismatched grad or momentum buffer") {
  Tensor p = Tensor::zeros({4}), g = Tensor::zeros({5}), b = Tensor::zeros({4});
  CHECK_THROWS_AS(ops::sgd_update_({{p, g, b, 0.0}}, {0.1, 0.9, 0, false}, true), Error);
  CHECK_THROWS_AS(ops::sgd_update_({{p, Tensor::zeros({4}), Tensor(), 0.0}}, {0.1, 0.9, 0, false}, true), Error);
  CHECK_THROWS_AS(ops::sgd_update_({{p, Tensor::zeros({4}), b, 0.0}}, {0.1, 0.0, 0, false}, true), Error);
  CHECK_THROWS_AS(ops::sgd_update_({{p, Tensor::zeros({4}, DType::F64), b, 0.0}}, {0.1, 0.9, 0, false}, true), Error);
}

TEST_CASE("ops::ish_shape on the CPU equals train/'s former ISH math bitwise (3 strategies, ties, f32, f64)") {
  check_ish_matches_reference<float>();
  check_ish_matches_reference<double>();
  Tensor x = Tensor::zeros({2, 3, 2});  // [N, ...] is flattened per sample: D = 6
  CHECK(ops::ish_shape(x, ops::IshStrategy::ExpScale, 6).shape() == Shape{2, 3, 2});
  CHECK_THROWS_AS(ops::ish_shape(x, ops::IshStrategy::ExpScale, 7), Error);
  CHECK_THROWS_AS(ops::ish_shape(x, ops::IshStrategy::ExpScale, 0), Error);
  CHECK_THROWS_AS(ops::ish_shape(Tensor::zeros({6}), ops::IshStrategy::ExpScale, 1), Error);
}

TEST_CASE("ops::normalize_u8 on the CPU: ToTensor + Normalize rounded step by step in float") {
  const std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, stdv{0.229f, 0.224f, 0.225f};
  std::vector<uint8_t> in(2 * 5 * 7 * 3);
  for (size_t i = 0; i < in.size(); i++) in[i] = (uint8_t)((i * 37 + 11) % 256);
  in[0] = 0;
  in[1] = 255;
  Tensor y = ops::normalize_u8(tensor_of(in, {2, 5, 7, 3}), mean, stdv);
  REQUIRE(y.dtype() == DType::F32);
  CHECK(y.shape() == Shape{2, 5, 7, 3});
  std::vector<float> ref(in.size());
  for (size_t i = 0; i < in.size(); i++) {
    volatile float a = (float)in[i] / 255.f;  // torchvision: div by 255, then sub mean, then div std
    volatile float b = a - mean[i % 3];
    ref[i] = b / stdv[i % 3];
  }
  CHECK(same_bits(values<float>(y), ref));
  CHECK_THROWS_AS(ops::normalize_u8(Tensor::zeros({2, 3}), mean, stdv), Error);                 // not U8
  CHECK_THROWS_AS(ops::normalize_u8(tensor_of(in, {2, 5, 21}), mean, stdv), Error);           // not RGB
  CHECK_THROWS_AS(ops::normalize_u8(tensor_of(in, {2, 5, 7, 3}), mean, {1.f, 0.f, 1.f}), Error);  // std 0
}

TEST_CASE("backend table: a missing CUDA backend or kernel is a one-line error naming the op") {
  Backend* cuda = find_backend(Device::CUDA);
  if (!cuda) {  // a CPU-only build
    CHECK_FALSE(dev::cuda_available());
    CHECK(dev::cuda_unavailable_reason().find("no CUDA") != std::string::npos);
    CHECK_THROWS_WITH_AS(backend(Device::CUDA, "conv2d"), doctest::Contains("conv2d"), Error);
    CHECK_THROWS_WITH_AS(Tensor::empty({2}, DType::F32, Device::CUDA), doctest::Contains("no CUDA"), Error);
  } else {  // the CUDA table has no logsumexp kernel: a clear refusal, before any tensor is touched
    CHECK(std::string(cuda->name()) == "cuda");
    Tensor x = Tensor::zeros({2, 3}), y = Tensor::zeros({2});
    CHECK_THROWS_WITH_AS(cuda->row_logsumexp(x, y), doctest::Contains("logsumexp_last: not implemented on cuda"),
                         Error);
  }
  CHECK(std::string(backend(Device::CPU, "any").name()) == "cpu");
}

}  // TEST_SUITE("cpu")

TEST_SUITE("gpu") {

TEST_CASE("gpu engine ops: ish_shape, sgd_update_ and normalize_u8 on cuda tensors match the CPU") {
  const int64_t N = 16, D = 2048;
  Tensor x = tensor_of(uniform<float>((size_t)(N * D), 300, -1, 2), {N, D});
  for (int s = 0; s < 3; s++) {
    Tensor c = ops::ish_shape(x, (ops::IshStrategy)s, 307), g = ops::ish_shape(x.to(Device::CUDA), (ops::IshStrategy)s, 307);
    CHECK(g.is_cuda());
    // s1, s2 summed in another order on the device; the factor rounded once to fp32.
    test::check_close(g.to(Device::CPU), c, 2.5e-7, 0, "ish strategy " + std::to_string(s));
  }
  Tensor p = tensor_of(uniform<float>(1000, 301, -1, 1), {1000}), gr = tensor_of(uniform<float>(1000, 302, -1, 1), {1000});
  Tensor pc = p.clone(), bc = Tensor::zeros({1000}), pg = p.to(Device::CUDA), bg = Tensor::zeros({1000}, DType::F32, Device::CUDA);
  for (int step = 0; step < 2; step++) {
    ops::sgd_update_({{pc, gr, bc, 5e-4}}, {0.1, 0.9, 0, true}, step == 0);
    ops::sgd_update_({{pg, gr.to(Device::CUDA), bg, 5e-4}}, {0.1, 0.9, 0, true}, step == 0);
  }
  CHECK(same_bits(values<float>(pg), values<float>(pc)));
  CHECK(same_bits(values<float>(bg), values<float>(bc)));
  std::vector<uint8_t> in(4 * 9 * 3);
  for (size_t i = 0; i < in.size(); i++) in[i] = (uint8_t)(i * 7);
  Tensor u = tensor_of(in, {4, 9, 3});
  const std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, stdv{0.229f, 0.224f, 0.225f};
  CHECK(same_bits(values<float>(ops::normalize_u8(u.to(Device::CUDA), mean, stdv)),
                  values<float>(ops::normalize_u8(u, mean, stdv))));
}

}  // TEST_SUITE("gpu")
