// stb_image decoding (PNG, BMP, GIF, PPM/PGM, and JPEG as the fallback), converted to RGB the way PIL's
// convert("RGB") does: alpha dropped without compositing, gray replicated, palettes expanded.
// This translation unit holds the one STB_IMAGE_IMPLEMENTATION of the program. Only the decoders of the
// accepted formats are compiled: the others (PSD, TGA, PIC, HDR) are untrusted-input surface we do not need.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO  // we read files ourselves (errors name the file)
#define STBI_NO_HDR    // no float formats: PIL would not read them as RGB8 either
#define STBI_NO_LINEAR
#define STBI_NO_PSD
#define STBI_NO_TGA
#define STBI_NO_PIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <cstring>
#include <memory>

#include "engine/error.h"
#include "engine/image/image.h"

namespace ish::img::detail {

Info probe_stb(const uint8_t* data, size_t n, const std::string& name) {
  ISH_CHECK(n <= (size_t)INT32_MAX, "image ", name, ": file too large");
  int w = 0, h = 0, c = 0;
  ISH_CHECK(stbi_info_from_memory(data, (int)n, &w, &h, &c), "image ", name, ": unreadable image (stb_image: ",
            stbi_failure_reason(), ")");
  return Info{w, h, c, sniff(data, n)};
}

void decode_stb(const uint8_t* data, size_t n, const std::string& name, Image& out, const DecodeOptions& opt) {
  Info info = probe_stb(data, n, name);
  check_pixels(info.w, info.h, name, opt);
  int w = 0, h = 0, c = 0;
  const size_t np = (size_t)info.w * info.h;
  // A 1-channel 16-bit PNG is mode "I" in PIL, and "I" -> "RGB" clips each value to 255
  // (it does not take the high byte as stb would).
  if (info.format == Format::PNG && info.channels == 1 && stbi_is_16_bit_from_memory(data, (int)n)) {
    std::unique_ptr<stbi_us, void (*)(void*)> p(stbi_load_16_from_memory(data, (int)n, &w, &h, &c, 1),
                                                stbi_image_free);
    ISH_CHECK(p, "image ", name, ": corrupt image (stb_image: ", stbi_failure_reason(), ")");
    ISH_ASSERT(w == info.w && h == info.h);
    out.w = w;
    out.h = h;
    out.px.resize(np * 3);
    for (size_t i = 0; i < np; i++) {
      const uint8_t v = p.get()[i] > 255 ? 255 : (uint8_t)p.get()[i];
      out.px[3 * i] = out.px[3 * i + 1] = out.px[3 * i + 2] = v;
    }
    return;
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> p(stbi_load_from_memory(data, (int)n, &w, &h, &c, 3),
                                              stbi_image_free);
  ISH_CHECK(p, "image ", name, ": corrupt image (stb_image: ", stbi_failure_reason(), ")");
  ISH_ASSERT(w == info.w && h == info.h);
  out.w = w;
  out.h = h;
  out.px.resize(np * 3);
  std::memcpy(out.px.data(), p.get(), np * 3);
}

}  // namespace ish::img::detail
