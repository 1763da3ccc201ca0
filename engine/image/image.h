// Image decoding to 8-bit RGB, exactly as PIL 9.4's Image.open(f).convert("RGB") does it.
//  - JPEG: libjpeg-turbo (the library PIL links), ISLOW IDCT and fancy upsampling (PIL's defaults).
//    Grayscale is replicated to RGB; 4-component (CMYK/YCCK) is read inverted ("CMYK;I", as PIL does for
//    every 4-layer JPEG) and converted with PIL's cmyk2rgb. A truncated file is an error, as in PIL
//    ("image file is truncated"); other libjpeg warnings (corrupt-data recovery) are ignored, as in PIL.
//  - PNG and everything else: stb_image. Alpha is dropped without compositing, palettes expand, 16-bit
//    samples keep their high byte; a 1-channel 16-bit PNG is clipped to 255 as PIL's "I" -> "RGB" does.
//    Bit-exactness with PIL is tested for JPEG and PNG; other stb formats are best-effort.
// A pixel cap is checked from the header before any pixel is decoded. Errors throw ish::Error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ish::img {

// PIL's Image.MAX_IMAGE_PIXELS (above it PIL warns of a decompression bomb); we refuse above the cap.
constexpr int64_t kDefaultMaxPixels = 89478485;

// 8-bit RGB, row-major HWC, rows tightly packed.
struct Image {
  int w = 0, h = 0;
  std::vector<uint8_t> px;
  const uint8_t* row(int y) const { return px.data() + (size_t)y * w * 3; }
};

// A read-only window into RGB pixels (a crop shares memory with its image).
struct View {
  const uint8_t* p = nullptr;
  int w = 0, h = 0;
  ptrdiff_t stride = 0;  // bytes between rows
  const uint8_t* row(int y) const { return p + y * stride; }
};
inline View view(const Image& im) { return View{im.px.data(), im.w, im.h, (ptrdiff_t)im.w * 3}; }
// Sub-rectangle (x, y, w, h) of v; checked.
View crop_view(const View& v, int x, int y, int w, int h);

enum class Format { JPEG, PNG, Other };
Format sniff(const uint8_t* data, size_t n);

struct DecodeOptions {
  int64_t max_pixels = kDefaultMaxPixels;  // w*h above this is refused before decoding; <= 0 disables
  bool jpeg_with_stb = false;              // decode JPEG with stb_image (not PIL-exact; fallback only)
};

// Header-only probe: width, height, channels in the file. Throws on unreadable headers.
struct Info { int w = 0, h = 0, channels = 0; Format format = Format::Other; };
Info probe_memory(const uint8_t* data, size_t n, const std::string& name);

// Decodes into `out` (its buffer is reused). `name` is used in error messages.
void decode_memory(const uint8_t* data, size_t n, const std::string& name, Image& out,
                   const DecodeOptions& opt = {});
void decode_file(const std::string& path, Image& out, const DecodeOptions& opt = {});
Image decode_file(const std::string& path, const DecodeOptions& opt = {});

// Reads a whole file into `buf` (reused); throws ish::Error naming the file.
void read_file(const std::string& path, std::vector<uint8_t>& buf);

namespace detail {
void decode_jpeg_libjpeg(const uint8_t* data, size_t n, const std::string& name, Image& out,
                         const DecodeOptions& opt);
void decode_stb(const uint8_t* data, size_t n, const std::string& name, Image& out, const DecodeOptions& opt);
Info probe_jpeg(const uint8_t* data, size_t n, const std::string& name);
Info probe_stb(const uint8_t* data, size_t n, const std::string& name);
void check_pixels(int64_t w, int64_t h, const std::string& name, const DecodeOptions& opt);
// PIL's cmyk2rgb (Convert.c) on already-inverted CMYK: nk = 255-k; out = clip(nk - muldiv255(c, nk)).
inline uint8_t cmyk_channel(int c, int nk) {
  int t = c * nk + 128;
  int v = nk - (((t >> 8) + t) >> 8);
  return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}
}  // namespace detail

}  // namespace ish::img
