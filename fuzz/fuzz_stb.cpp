// libFuzzer target: the stb_image path of the bytes -> RGB decoder (PNG, BMP, GIF, PPM/PGM, and JPEG
// through the stb fallback) under the pixel cap; also the format sniffing and refusal of other files.
#include "fuzz/fuzz_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzimg::run(data, size, /*jpeg_with_stb=*/true);
  return 0;
}
