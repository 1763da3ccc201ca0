// GPU parity of models/swin: the reduced torchvision SwinTransformer (tools/fixtures_swin.py) on cuda
// against torchvision's eval logits and features, and every parameter gradient against the CPU model.
// TF32 off.
#ifdef ISHSCALE_CUDA
#include "tests/model_check.h"
#include "tests/test_gpu_util.h"

using namespace ish;

TEST_SUITE("gpu") {
TEST_CASE("models gpu: the reduced torchvision Swin on cuda matches torchvision (eval) and the CPU (gradients)") {
  gputest::StrictFp32 strict;
  auto cpu_m = test::swin_small(), gpu_m = test::swin_small();
  test::check_gpu_twin(cpu_m, gpu_m, test::load_fixture("swin_small_golden.safetensors"), "swin_small_ref.safetensors");
}
}
#endif
