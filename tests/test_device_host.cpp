// Host-side logic of the cuda backend, testable without a GPU: the order in which cuDNN algorithms
// are tried and the fallback when one fails at run time, which cuDNN statuses allow a retry, the
// wording of allocation failures (out of memory vs a kernel fault), the --tf32 spelling, and max
// pooling's padding rule.
#include <doctest/doctest.h>

#include "engine/cuda/conv_algos.h"
#include "engine/cuda/error_text.h"
#include "engine/device_options.h"
#include "engine/dims.h"

using namespace ish;
using namespace ish::cuda;

namespace {
constexpr int kDefault = 0, kTensorOp = 1, kFma = 3;  // stand-ins for cuDNN's math type values
AlgoResult res(int algo, int math, bool ok = true, bool det = true) {
  return AlgoResult{algo, math, ok, det, math == kTensorOp};
}
std::vector<int> algos(const std::vector<AlgoChoice>& v) {
  std::vector<int> r;
  for (auto& c : v) r.push_back(c.algo);
  return r;
}
}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("cuda host: algorithm order keeps cuDNN's ranking and drops failed results") {
  const std::vector<AlgoResult> ranked = {res(6, kTensorOp), res(1, kDefault, false), res(0, kDefault),
                                          res(5, kDefault), res(2, kTensorOp)};
  auto o = conv_algo_order(ranked, false, true, kFma);
  CHECK(algos(o) == std::vector<int>{6, 0, 5, 2});
  CHECK(o[0].math == kTensorOp);  // with TF32 the reported math type is kept
  CHECK(o[1].math == kDefault);
}

TEST_CASE("cuda host: without TF32, tensor-op results are skipped and the math is pinned to FMA") {
  const std::vector<AlgoResult> ranked = {res(6, kTensorOp), res(1, kDefault), res(1, kTensorOp), res(0, kDefault),
                                          res(1, kFma)};
  auto o = conv_algo_order(ranked, false, false, kFma);
  CHECK(algos(o) == std::vector<int>{1, 0});  // algo 1 once: its results differ only in math type
  for (auto& c : o) CHECK(c.math == kFma);
}

TEST_CASE("cuda host: deterministic mode keeps only results cuDNN reports as deterministic") {
  const std::vector<AlgoResult> ranked = {res(0, kDefault, true, false), res(1, kDefault, true, true),
                                          res(3, kDefault, true, false), res(4, kDefault, true, true)};
  auto o = conv_algo_order(ranked, true, true, kFma);
  CHECK(algos(o) == std::vector<int>{1, 4});
  for (auto& c : o) CHECK(c.deterministic);
  CHECK(algos(conv_algo_order(ranked, false, true, kFma)) == std::vector<int>{0, 1, 3, 4});
  CHECK(conv_algo_order({res(0, kDefault, true, false)}, true, true, kFma).empty());
}

TEST_CASE("cuda host: a failing algorithm falls back to the next in order, then none is left") {
  AlgoFallback fb;
  fb.order = conv_algo_order({res(7, kTensorOp), res(1, kDefault), res(0, kDefault)}, false, true, kFma);
  REQUIRE(!fb.empty());
  CHECK(fb.current().algo == 7);
  CHECK(fb.fail());
  CHECK(fb.current().algo == 1);
  CHECK(fb.current().math == kDefault);
  CHECK(fb.fail());
  CHECK(fb.current().algo == 0);
  CHECK(!fb.fail());
  CHECK(fb.empty());
  CHECK(!fb.fail());  // stays exhausted
  AlgoFallback none;
  CHECK(none.empty());
}

TEST_CASE("cuda host: which cuDNN 9 statuses make the next algorithm worth a try") {
  CHECK(conv_status_retryable(3000));  // not supported
  CHECK(conv_status_retryable(3010));  // not supported: shared memory
  CHECK(conv_status_retryable(4004));  // internal: device allocation failed
  CHECK(conv_status_retryable(5000));  // execution failed
  CHECK(!conv_status_retryable(0));
  CHECK(!conv_status_retryable(1001));  // not initialised
  CHECK(!conv_status_retryable(2000));  // bad parameter: our bug, not the algorithm's
  CHECK(!conv_status_retryable(2002));
}

TEST_CASE("cuda host: out of memory and a kernel fault are reported differently") {
  const std::string oom = alloc_failure_text(Failure::OutOfMemory, 1 << 30, 5, 100, 200, "out of memory", "", false);
  CHECK(oom.find("out of GPU memory") != std::string::npos);
  CHECK(oom.find("--batch-size") != std::string::npos);
  const std::string fault = alloc_failure_text(Failure::KernelFault, 4096, 5, 0, 0, "an illegal memory access",
                                               "bn_apply4 (kernels/bn.cu:150)", false);
  CHECK(fault.find("out of GPU memory") == std::string::npos);
  CHECK(fault.find("--batch-size") == std::string::npos);
  CHECK(fault.find("kernel fault") != std::string::npos);
  CHECK(fault.find("bn_apply4 (kernels/bn.cu:150)") != std::string::npos);
  CHECK(fault.find("ISHSCALE_SYNC=1") != std::string::npos);  // asks for the precise rerun
  const std::string synced = alloc_failure_text(Failure::KernelFault, 4096, 5, 0, 0, "an illegal memory access",
                                                "maxpool_bwd (kernels/pool.cu:120)", true);
  CHECK(synced.find("the faulting kernel: maxpool_bwd") != std::string::npos);
  CHECK(fault_hint("", false).find("no kernel") != std::string::npos);
  const std::string other = alloc_failure_text(Failure::Other, 4096, 5, 0, 0, "invalid device ordinal", "", false);
  CHECK(other.find("out of GPU memory") == std::string::npos);
}

TEST_CASE("device options: --tf32 on|off|all, PyTorch's defaults") {
  CHECK(parse_tf32("on") == Tf32::On);
  CHECK(parse_tf32("off") == Tf32::Off);
  CHECK(parse_tf32("all") == Tf32::All);
  for (const char* bad : {"", "ON", "true", "1", "tf32", "al"})
    CHECK_THROWS_WITH_AS(parse_tf32(bad), doctest::Contains("--tf32"), Error);
  for (Tf32 t : {Tf32::Off, Tf32::On, Tf32::All}) CHECK(parse_tf32(tf32_name(t)) == t);
  DeviceOptions d;  // convs in TF32, GEMMs in fp32, as torch.backends' defaults
  CHECK(d.tf32 == Tf32::On);
  CHECK(d.tf32_conv());
  CHECK(!d.tf32_gemm());
  CHECK(!DeviceOptions{Tf32::Off, false}.tf32_conv());
  CHECK(DeviceOptions{Tf32::All, false}.tf32_gemm());
}

TEST_CASE("max_pool2d padding rule: at most half the dilated kernel (one rule for both devices)") {
  CHECK(pool_padding_ok(3, 1, 1));
  CHECK(!pool_padding_ok(3, 1, 2));
  CHECK(pool_padding_ok(2, 3, 2));   // effective kernel 4: 2*pad > kernel is allowed with dilation
  CHECK(!pool_padding_ok(2, 3, 3));
  CHECK(pool_padding_ok(1, 1, 0));
  CHECK(!pool_padding_ok(1, 1, 1));
  CHECK(!pool_padding_ok(3, 1, -1));
}

}  // TEST_SUITE
