// Helpers for the "gpu" suite: device buffers with guard elements, random fills and an
// element-wise |a-ref| <= atol + rtol*|ref| check on host vectors. GPU tests compare ish::cuda
// against the CPU reference (ish::cpu or the owning module's CPU twin) on fresh random inputs.
#pragma once
#ifdef ISHSCALE_CUDA
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/device_options.h"

namespace ish::gputest {

// Strict fp32 on the device (TF32 off, the default algorithms) for the scope: the goldens are fp32.
struct StrictFp32 {
  DeviceOptions saved = device_options();
  StrictFp32() { device_options() = DeviceOptions{Tf32::Off, false}; }
  ~StrictFp32() { device_options() = saved; }
};

constexpr int64_t kGuard = 64;  // elements on each side of an output

template <class T> T sentinel();
template <> inline float sentinel<float>() { return -7777.25f; }
template <> inline int64_t sentinel<int64_t>() { return (int64_t)0x5A5A5A5A5A5A5A5AULL; }
template <> inline uint8_t sentinel<uint8_t>() { return 0xA5; }

// n elements on the device with kGuard sentinel elements before and after.
template <class T>
struct DevBuf {
  int64_t n;
  T* base;
  explicit DevBuf(int64_t n_) : n(n_) {
    base = (T*)dev::cuda_malloc(bytes());
    std::vector<T> init((size_t)(n + 2 * kGuard), sentinel<T>());
    dev::copy(base, Device::CUDA, init.data(), Device::CPU, bytes());
  }
  DevBuf(const std::vector<T>& v) : DevBuf((int64_t)v.size()) { upload(v); }
  ~DevBuf() { dev::cuda_free(base, bytes()); }
  DevBuf(const DevBuf&) = delete;
  size_t bytes() const { return sizeof(T) * (size_t)(n + 2 * kGuard); }
  T* ptr() { return base + kGuard; }
  void upload(const std::vector<T>& v) {
    REQUIRE(v.size() == (size_t)n);
    dev::copy(ptr(), Device::CUDA, v.data(), Device::CPU, sizeof(T) * n);
  }
  std::vector<T> get() {
    std::vector<T> v((size_t)n);
    dev::copy(v.data(), Device::CPU, ptr(), Device::CUDA, sizeof(T) * n);
    return v;
  }
  // True when no guard element changed (bitwise).
  bool guards_ok() {
    std::vector<T> all((size_t)(n + 2 * kGuard));
    dev::copy(all.data(), Device::CPU, base, Device::CUDA, bytes());
    const T s = sentinel<T>();
    for (int64_t i = 0; i < kGuard; i++)
      if (std::memcmp(&all[i], &s, sizeof(T)) || std::memcmp(&all[n + kGuard + i], &s, sizeof(T))) return false;
    return true;
  }
};

inline std::vector<float> rand_uniform(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = u(g);
  return v;
}
// Small integers: products and sums stay exact in fp32.
inline std::vector<float> rand_int(int64_t n, uint64_t seed, int lo, int hi) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = (float)u(g);
  return v;
}

// CHECKs |a-ref| <= atol + rtol*|ref| everywhere (NaN only matches NaN); prints the worst element.
template <class T>
bool close(const std::vector<T>& a, const std::vector<T>& ref, double rtol, double atol, const std::string& what) {
  REQUIRE_MESSAGE(a.size() == ref.size(), what << ": size " << a.size() << " vs " << ref.size());
  size_t bad = 0, first = 0;
  double worst = 0;
  size_t wi = 0;
  for (size_t i = 0; i < a.size(); i++) {
    const double x = (double)a[i], y = (double)ref[i];
    if (std::isnan(y) && std::isnan(x)) continue;
    const double e = std::fabs(x - y);
    const double lim = atol + rtol * std::fabs(y);
    if (!(e <= lim)) {
      if (!bad) first = i;
      bad++;
    }
    const double r = std::isnan(e) ? INFINITY : e / (lim > 0 ? lim : 1e-300);
    if (r > worst) { worst = r; wi = i; }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << a.size() << " elements out of tolerance (rtol " << rtol
                               << ", atol " << atol << "); first [" << first << "] got " << (double)a[first]
                               << " want " << (double)ref[first] << "; worst [" << wi << "] got " << (double)a[wi]
                               << " want " << (double)ref[wi]);
  return bad == 0;
}
template <class T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0);
}

}  // namespace ish::gputest
#endif
