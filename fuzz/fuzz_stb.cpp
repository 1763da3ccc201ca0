// libFuzzer target: the stb_image path of the bytes -> RGB decoder (PNG, BMP, GIF, PPM/PGM, every input
// not sniffed as JPEG) under the pixel cap; also the format sniffing and the refusal of other files.
#include "fuzz/fuzz_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzimg::run(data, size, /*jpeg=*/false);
  return 0;
}
