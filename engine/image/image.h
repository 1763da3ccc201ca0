// Image decoding to 8-bit RGB, exactly as PIL 9.4's Image.open(f).convert("RGB") does it.
//  - JPEG: libjpeg-turbo (the library PIL links), ISLOW IDCT and fancy upsampling (PIL's defaults).
//    Grayscale is replicated to RGB; 4-component (CMYK/YCCK) is read inverted ("CMYK;I", as PIL does for
//    every 4-layer JPEG) and converted with PIL's cmyk2rgb. A truncated file is an error, as in PIL
//    ("image file is truncated"); other libjpeg warnings (corrupt-data recovery) are ignored, as in PIL.
//  - PNG, BMP, GIF (first frame), binary PPM/PGM: stb_image. Alpha is dropped without compositing,
//    palettes expand, 16-bit samples keep their high byte; a 1-channel 16-bit PNG is clipped to 255 as
//    PIL's "I" -> "RGB" does. Bit-exactness with PIL is tested for JPEG and PNG; BMP/GIF/PPM are best-effort.
// Only those formats are accepted (recognised by their magic bytes); every other file is refused with a
// message naming the file and what it is (TIFF, WebP, PSD, an HTML page, ...) or that it is unknown.
// stb_image is compiled without its other decoders (JPEG, PSD, TGA, PIC, HDR: libjpeg-turbo reads JPEG;
// stb's JPEG decoder overflowed a Huffman table under fuzzing). Before any pixel is decoded,
// a file-size cap (on the bytes) and a pixel cap (from the header) apply.
// Errors throw ish::Error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ish::img {

// PIL's Image.MAX_IMAGE_PIXELS (above it PIL warns of a decompression bomb); we refuse above the cap.
constexpr int64_t kDefaultMaxPixels = 89478485;
// Files larger than this are refused before they are read (256 MiB).
constexpr int64_t kDefaultMaxFileBytes = int64_t(256) << 20;

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

// The accepted formats; Other is anything else (refused by decode_memory/probe_memory).
enum class Format { JPEG, PNG, Other, BMP, GIF, PNM };
Format sniff(const uint8_t* data, size_t n);
const char* format_name(Format f);  // "JPEG", "PNG", "BMP", "GIF", "PPM/PGM", "other"
// What a refused file is, from its first bytes: "TIFF", "WebP", "an HTML page", ..., or "unknown".
std::string describe_unaccepted(const uint8_t* data, size_t n);
extern const char* const kAcceptedFormats;  // "JPEG, PNG, BMP, GIF, PPM/PGM (binary P5/P6)"

struct DecodeOptions {
  int64_t max_pixels = kDefaultMaxPixels;  // w*h above this is refused before decoding; <= 0 disables
  int64_t max_file_bytes = kDefaultMaxFileBytes;  // larger files are refused before reading; <= 0 disables
};

// Header-only probe: width, height, channels in the file. Throws on unreadable headers.
struct Info { int w = 0, h = 0, channels = 0; Format format = Format::Other; };
Info probe_memory(const uint8_t* data, size_t n, const std::string& name);

// Decodes into `out` (its buffer is reused). `name` is used in error messages.
void decode_memory(const uint8_t* data, size_t n, const std::string& name, Image& out,
                   const DecodeOptions& opt = {});
void decode_file(const std::string& path, Image& out, const DecodeOptions& opt = {});
Image decode_file(const std::string& path, const DecodeOptions& opt = {});

// Reads a whole file into `buf` (reused); throws ish::Error naming the file. With max_bytes > 0, a
// larger file is refused before it is read.
void read_file(const std::string& path, std::vector<uint8_t>& buf, int64_t max_bytes = 0);

namespace detail {
void decode_jpeg_libjpeg(const uint8_t* data, size_t n, const std::string& name, Image& out,
                         const DecodeOptions& opt);
void decode_stb(const uint8_t* data, size_t n, const std::string& name, Image& out, const DecodeOptions& opt);
Info probe_jpeg(const uint8_t* data, size_t n, const std::string& name);
Info probe_stb(const uint8_t* data, size_t n, const std::string& name);
void check_pixels(int64_t w, int64_t h, const std::string& name, const DecodeOptions& opt);
void check_file_bytes(int64_t n, const std::string& name, const DecodeOptions& opt);
// PIL's cmyk2rgb (Convert.c) on already-inverted CMYK: nk = 255-k; out = clip(nk - muldiv255(c, nk)).
inline uint8_t cmyk_channel(int c, int nk) {
  int t = c * nk + 128;
  int v = nk - (((t >> 8) + t) >> 8);
  return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}
}  // namespace detail

}  // namespace ish::img
