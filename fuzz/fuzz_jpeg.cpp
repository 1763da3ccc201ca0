// libFuzzer target: the JPEG path of the bytes -> RGB decoder (libjpeg-turbo, PIL-exact settings,
// L and CMYK conversion) under the pixel cap. Seeds: small JPEGs of every kind PIL writes.
#include "fuzz/fuzz_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzimg::run(data, size, /*jpeg=*/true);
  return 0;
}
