// Decoder dispatch by magic bytes (accepted formats only), file reading, views, the pixel and size caps.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/image/image.h"

namespace ish::img {

View crop_view(const View& v, int x, int y, int w, int h) {
  ISH_CHECK(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= v.w && y + h <= v.h, "crop (", x, ",", y, ",",
            w, ",", h, ") outside a ", v.w, "x", v.h, " image");
  return View{v.p + y * v.stride + (ptrdiff_t)x * 3, w, h, v.stride};
}

const char* const kAcceptedFormats = "JPEG, PNG, BMP, GIF, PPM/PGM (binary P5/P6)";

static bool starts(const uint8_t* d, size_t n, const char* magic, size_t len, size_t at = 0) {
  return n >= at + len && !std::memcmp(d + at, magic, len);
}
static bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

Format sniff(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::JPEG;
  if (starts(d, n, "\x89PNG\r\n\x1a\n", 8)) return Format::PNG;
  if (starts(d, n, "BM", 2)) return Format::BMP;
  if (starts(d, n, "GIF87a", 6) || starts(d, n, "GIF89a", 6)) return Format::GIF;
  if (n >= 3 && d[0] == 'P' && (d[1] == '5' || d[1] == '6') && is_space(d[2])) return Format::PNM;
  return Format::Other;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::JPEG: return "JPEG";
    case Format::PNG: return "PNG";
    case Format::BMP: return "BMP";
    case Format::GIF: return "GIF";
    case Format::PNM: return "PPM/PGM";
    default: return "other";
  }
}

std::string describe_unaccepted(const uint8_t* d, size_t n) {
  if (starts(d, n, "II*\0", 4) || starts(d, n, "MM\0*", 4)) return "TIFF";
  if (starts(d, n, "RIFF", 4) && starts(d, n, "WEBP", 4, 8)) return "WebP";
  if (starts(d, n, "8BPS", 4)) return "PSD (Photoshop)";
  if (starts(d, n, "\x53\x80\xF6\x34", 4)) return "Softimage PIC";
  if (starts(d, n, "#?RADIANCE", 10) || starts(d, n, "#?RGBE", 6)) return "Radiance HDR";
  if (starts(d, n, "v/1\x01", 4)) return "OpenEXR";
  if (starts(d, n, "qoif", 4)) return "QOI";
  if (starts(d, n, "DDS ", 4)) return "DDS";
  if (starts(d, n, "\0\0\1\0", 4)) return "ICO (Windows icon)";
  if (starts(d, n, "\0\0\0\x0cjP  \r\n\x87\n", 12) || starts(d, n, "\xff\x4f\xff\x51", 4)) return "JPEG 2000";
  if (starts(d, n, "\xff\x0a", 2) || starts(d, n, "\0\0\0\x0cJXL \r\n\x87\n", 12)) return "JPEG XL";
  if (starts(d, n, "ftyp", 4, 4)) {
    if (starts(d, n, "avif", 4, 8) || starts(d, n, "avis", 4, 8)) return "AVIF";
    if (starts(d, n, "heic", 4, 8) || starts(d, n, "heix", 4, 8) || starts(d, n, "mif1", 4, 8)) return "HEIF/HEIC";
    return "an ISO media file (MP4/MOV/...)";
  }
  if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '4' && is_space(d[2])) return "plain-text or 1-bit PNM (P1-P4)";
  if (starts(d, n, "PF", 2) || starts(d, n, "Pf", 2)) return "PFM (floating-point PNM)";
  if (starts(d, n, "%PDF", 4)) return "PDF";
  if (starts(d, n, "\x1f\x8b", 2)) return "gzip data";
  if (starts(d, n, "PK\x03\x04", 4)) return "a zip archive";
  if (n >= 26 && starts(d, n, "TRUEVISION-XFILE.\0", 18, n - 18)) return "TGA";
  // Text: an HTML error page saved under an image name is common in scraped datasets.
  size_t i = starts(d, n, "\xEF\xBB\xBF", 3) ? 3 : 0;
  while (i < n && is_space(d[i])) i++;
  std::string head;
  for (size_t k = i; k < n && k < i + 512; k++) head += (char)std::tolower(d[k]);
  if (head.rfind("<!doctype html", 0) == 0 || head.rfind("<html", 0) == 0) return "an HTML page";
  if (head.rfind("<svg", 0) == 0 || (head.rfind("<?xml", 0) == 0 && head.find("<svg") != std::string::npos))
    return "SVG";
  if (head.rfind("<?xml", 0) == 0) return "XML";
  return "unknown";
}

// The refusal of a file that is none of the accepted formats.
[[noreturn]] static void refuse_format(const uint8_t* d, size_t n, const std::string& name) {
  const std::string what = describe_unaccepted(d, n);
  if (what != "unknown") fail("image ", name, ": unsupported format: ", what, " (accepted: ", kAcceptedFormats, ")");
  std::string hex;
  char b[4];
  for (size_t k = 0; k < n && k < 8; k++) {
    std::snprintf(b, sizeof b, k ? " %02x" : "%02x", d[k]);
    hex += b;
  }
  fail("image ", name, ": unknown format (first bytes ", hex, "; accepted: ", kAcceptedFormats, ")");
}

namespace detail {
void check_pixels(int64_t w, int64_t h, const std::string& name, const DecodeOptions& opt) {
  ISH_CHECK(w > 0 && h > 0, "image ", name, ": empty image (", w, "x", h, ")");
  ISH_CHECK(opt.max_pixels <= 0 || w * h <= opt.max_pixels, "image ", name, ": ", w, "x", h, " = ", w * h,
            " pixels exceeds the cap of ", opt.max_pixels, " (possible decompression bomb)");
}
void check_file_bytes(int64_t n, const std::string& name, const DecodeOptions& opt) {
  ISH_CHECK(opt.max_file_bytes <= 0 || n <= opt.max_file_bytes, "image ", name, ": ", n,
            " bytes exceeds the file-size cap of ", opt.max_file_bytes, " bytes");
}
}  // namespace detail

Info probe_memory(const uint8_t* data, size_t n, const std::string& name) {
  ISH_CHECK(n > 0, "image ", name, ": empty file");
  const Format f = sniff(data, n);
  if (f == Format::JPEG) return detail::probe_jpeg(data, n, name);
  if (f == Format::Other) refuse_format(data, n, name);
  return detail::probe_stb(data, n, name);
}

void decode_memory(const uint8_t* data, size_t n, const std::string& name, Image& out,
                   const DecodeOptions& opt) {
  ISH_CHECK(n > 0, "image ", name, ": empty file");
  detail::check_file_bytes((int64_t)n, name, opt);
  const Format f = sniff(data, n);
  if (f == Format::Other) refuse_format(data, n, name);
  if (f == Format::JPEG)
    detail::decode_jpeg_libjpeg(data, n, name, out, opt);
  else
    detail::decode_stb(data, n, name, out, opt);
}

void read_file(const std::string& path, std::vector<uint8_t>& buf, int64_t max_bytes) {
  FILE* f = std::fopen(path.c_str(), "rb");
  ISH_CHECK(f, "image ", path, ": cannot open (", std::strerror(errno), ")");
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    std::fclose(f);
    fail("image ", path, ": not a regular file");
  }
  if (max_bytes > 0 && (int64_t)sb.st_size > max_bytes) {
    std::fclose(f);
    fail("image ", path, ": ", (int64_t)sb.st_size, " bytes exceeds the file-size cap of ", max_bytes, " bytes");
  }
  buf.resize((size_t)sb.st_size);
  size_t got = buf.empty() ? 0 : std::fread(buf.data(), 1, buf.size(), f);
  bool err = std::ferror(f);
  std::fclose(f);
  ISH_CHECK(!err && got == buf.size(), "image ", path, ": read error");
}

void decode_file(const std::string& path, Image& out, const DecodeOptions& opt) {
  thread_local std::vector<uint8_t> buf;
  read_file(path, buf, opt.max_file_bytes);
  decode_memory(buf.data(), buf.size(), path, out, opt);
}

Image decode_file(const std::string& path, const DecodeOptions& opt) {
  Image im;
  decode_file(path, im, opt);
  return im;
}

}  // namespace ish::img
