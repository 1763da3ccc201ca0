// Process-wide numeric options of the cuda backend, readable and settable in every build (the CPU
// build keeps them only so that the CLI and results.json need no #ifdef). TF32 follows PyTorch's
// defaults: tensor-core TF32 for cuDNN convolutions, strict fp32 for cuBLAS GEMMs (so the fc layer
// and the detectors' logits stay fp32); `all` adds the GEMMs.
#pragma once
#include <string>

namespace ish {

enum class Tf32 { Off, On, All };  // On: convolutions only (the default); All: GEMMs too

// "off" | "on" | "all" (exactly); anything else throws ish::Error (exit 2) naming the value.
Tf32 parse_tf32(const std::string& s);
const char* tf32_name(Tf32 t);  // the inverse: "off" | "on" | "all"

struct DeviceOptions {
  Tf32 tf32 = Tf32::On;
  bool deterministic = false;  // deterministic cuDNN algorithms, atomics-free reductions
  bool tf32_conv() const { return tf32 != Tf32::Off; }
  bool tf32_gemm() const { return tf32 == Tf32::All; }
};
// Read by the cuda backend at every call (cuDNN plans are keyed by it): set before the work.
DeviceOptions& device_options();

}  // namespace ish
