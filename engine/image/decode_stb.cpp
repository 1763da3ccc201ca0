// stb_image decoding (PNG, BMP, GIF, PPM/PGM), converted to RGB the way PIL's
// convert("RGB") does: alpha dropped without compositing, gray replicated, palettes expanded.
// This translation unit holds the one STB_IMAGE_IMPLEMENTATION of the program. Only the decoders of the
// accepted formats are compiled: the others (PSD, TGA, PIC, HDR) are untrusted-input surface we do not
// need, and JPEG is libjpeg-turbo's (stb's JPEG decoder indexed past a Huffman table on fuzzed input).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO  // we read files ourselves (errors name the file)
#define STBI_NO_HDR    // no float formats: PIL would not read them as RGB8 either
#define STBI_NO_LINEAR
#define STBI_NO_JPEG
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

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

#include "engine/error.h"
#include "engine/image/image.h"

namespace ish::img::detail {

namespace {
uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

// Bytes of a binary PPM/PGM header (magic, width, height, maxval, each after blanks and '#' comments,
// then one byte), scanned as stb scans it. 0 when a number is above 10^8: stb accumulates the digits
// in an int, which overflows (undefined behaviour) on long numbers; real sizes are <= 2^24.
size_t pnm_header_bytes(const uint8_t* d, size_t n) {
  size_t i = 2;
  for (int field = 0; field < 3; field++) {
    while (i < n && (std::isspace(d[i]) || d[i] == '#')) {
      if (d[i] == '#')
        while (i < n && d[i] != '\n' && d[i] != '\r') i++;
      else
        i++;
    }
    int64_t v = 0;
    for (; i < n && std::isdigit(d[i]); i++)
      if ((v = v * 10 + (d[i] - '0')) > 100000000) return 0;
  }
  return i + 1;
}
}  // namespace

Info probe_stb(const uint8_t* data, size_t n, const std::string& name) {
  ISH_CHECK(n <= (size_t)INT32_MAX, "image ", name, ": file too large");
  int w = 0, h = 0, c = 0;
  const Format f = sniff(data, n);
  ISH_CHECK(f != Format::PNM || pnm_header_bytes(data, n) > 0, "image ", name,
            ": corrupt PPM/PGM header (a size or maximum value out of range)");
  ISH_CHECK(stbi_info_from_memory(data, (int)n, &w, &h, &c), "image ", name, ": unreadable ", format_name(f),
            " header (stb_image: ", stbi_failure_reason(), ")");
  return Info{w, h, c, f};
}

// stb fills what is missing from a truncated BMP with zeros, and leaves a truncated PPM/PGM's pixels
// uninitialised; PIL refuses both ("image file is truncated"), so the sizes are checked here first.
static void check_complete(const uint8_t* d, size_t n, const Info& info, const std::string& name) {
  int64_t need = 0;
  if (info.format == Format::PNM) {
    const int bytes = stbi_is_16_bit_from_memory(d, (int)n) ? 2 : 1;
    need = (int64_t)pnm_header_bytes(d, n) + (int64_t)info.w * info.h * info.channels * bytes;
  } else if (info.format == Format::BMP) {
    const int64_t hsz = n >= 18 ? le32(d + 14) : 4, header = 14 + hsz;  // file header + info header
    if ((int64_t)n < header) {
      need = header;
    } else {
      const int bpp = hsz == 12 ? (d[24] | d[25] << 8) : (d[28] | d[29] << 8);
      const uint32_t compression = hsz == 12 ? 0 : le32(d + 30);
      if (compression != 0 && compression != 3) return;  // RLE: stb stops at the end of the data
      const int64_t row = ((int64_t)info.w * bpp + 31) / 32 * 4;
      need = std::max(header, (int64_t)le32(d + 10) + row * (info.h - 1) + ((int64_t)info.w * bpp + 7) / 8);
    }
  }
  ISH_CHECK((int64_t)n >= need, "image ", name, ": image file is truncated (", format_name(info.format), " needs ",
            need, " bytes, the file has ", n, ")");
}

void decode_stb(const uint8_t* data, size_t n, const std::string& name, Image& out, const DecodeOptions& opt) {
  Info info = probe_stb(data, n, name);
  check_pixels(info.w, info.h, name, opt);
  check_complete(data, n, info, name);
  int w = 0, h = 0, c = 0;
  const size_t np = (size_t)info.w * info.h;
  // A 1-channel 16-bit PNG or PGM is mode "I" in PIL, and "I" -> "RGB" clips each value to 255
  // (it does not take the high byte as stb would). This path also keeps a 16-bit PGM away from stb
  // 2.27's PNM loader, which expands grey to RGB with its 8-bit converter and then reads twice the
  // buffer's size (a heap overflow found by fuzz_stb).
  if ((info.format == Format::PNG || info.format == Format::PNM) && info.channels == 1 &&
      stbi_is_16_bit_from_memory(data, (int)n)) {
    std::unique_ptr<stbi_us, void (*)(void*)> p(stbi_load_16_from_memory(data, (int)n, &w, &h, &c, 1),
                                                stbi_image_free);
    ISH_CHECK(p, "image ", name, ": corrupt ", format_name(info.format), " (stb_image: ", stbi_failure_reason(), ")");
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
  ISH_CHECK(p, "image ", name, ": corrupt ", format_name(info.format), " (stb_image: ", stbi_failure_reason(), ")");
  ISH_ASSERT(w == info.w && h == info.h);
  out.w = w;
  out.h = h;
  out.px.resize(np * 3);
  std::memcpy(out.px.data(), p.get(), np * 3);
}

}  // namespace ish::img::detail
