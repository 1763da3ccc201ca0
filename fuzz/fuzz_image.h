// Shared body of the image fuzz targets: the bytes -> RGB decoder (decode_memory) under a pixel cap.
// It must accept or throw ish::Error with the usual exit code 2; a crash, a sanitizer report, another
// exception, an internal error (exit 3), a timeout or an image that breaks the checks below is a bug.
#pragma once
#include <cstdint>

#include "engine/error.h"
#include "engine/image/image.h"

namespace fuzzimg {

// Small enough that every accepted image decodes in milliseconds; the cap itself is what is tested.
constexpr int64_t kFuzzMaxPixels = 1 << 18;

// `jpeg`: only inputs sniffed as JPEG (the libjpeg path) are decoded, otherwise only the others (stb).
inline void run(const uint8_t* data, size_t size, bool jpeg) {
  using namespace ish::img;
  if ((sniff(data, size) == Format::JPEG) != jpeg) return;
  DecodeOptions opt;
  opt.max_pixels = kFuzzMaxPixels;
  opt.max_file_bytes = 1 << 20;
  static Image im;  // reused as the loader reuses its scratch image
  try {
    decode_memory(data, size, "fuzz", im, opt);
  } catch (const ish::Error& e) {
    if (e.code != 2) __builtin_trap();  // an internal invariant fired
    return;
  }
  // Accepted: the image must be inside the cap, fully sized, and agree with the header probe.
  if (im.w <= 0 || im.h <= 0 || (int64_t)im.w * im.h > kFuzzMaxPixels) __builtin_trap();
  if (im.px.size() != (size_t)im.w * im.h * 3) __builtin_trap();
  Info info = probe_memory(data, size, "fuzz");
  if (info.w != im.w || info.h != im.h || info.format != sniff(data, size)) __builtin_trap();
  // Touch every byte so an uninitialised or short buffer shows up under the sanitizers.
  static volatile unsigned sink;
  unsigned sum = 0;
  for (uint8_t v : im.px) sum += v;
  sink = sum;
}

}  // namespace fuzzimg
