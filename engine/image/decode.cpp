// Decoder dispatch by magic bytes, file reading, views and the pixel cap.
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

Format sniff(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::JPEG;
  static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n >= 8 && !std::memcmp(d, png, 8)) return Format::PNG;
  return Format::Other;
}

namespace detail {
void check_pixels(int64_t w, int64_t h, const std::string& name, const DecodeOptions& opt) {
  ISH_CHECK(w > 0 && h > 0, "image ", name, ": empty image (", w, "x", h, ")");
  ISH_CHECK(opt.max_pixels <= 0 || w * h <= opt.max_pixels, "image ", name, ": ", w, "x", h, " = ", w * h,
            " pixels exceeds the cap of ", opt.max_pixels, " (possible decompression bomb)");
}
}  // namespace detail

Info probe_memory(const uint8_t* data, size_t n, const std::string& name) {
  ISH_CHECK(n > 0, "image ", name, ": empty file");
  if (sniff(data, n) == Format::JPEG) return detail::probe_jpeg(data, n, name);
  return detail::probe_stb(data, n, name);
}

void decode_memory(const uint8_t* data, size_t n, const std::string& name, Image& out,
                   const DecodeOptions& opt) {
  ISH_CHECK(n > 0, "image ", name, ": empty file");
  if (sniff(data, n) == Format::JPEG && !opt.jpeg_with_stb)
    detail::decode_jpeg_libjpeg(data, n, name, out, opt);
  else
    detail::decode_stb(data, n, name, out, opt);
}

void read_file(const std::string& path, std::vector<uint8_t>& buf) {
  FILE* f = std::fopen(path.c_str(), "rb");
  ISH_CHECK(f, "image ", path, ": cannot open (", std::strerror(errno), ")");
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    std::fclose(f);
    fail("image ", path, ": not a regular file");
  }
  buf.resize((size_t)sb.st_size);
  size_t got = buf.empty() ? 0 : std::fread(buf.data(), 1, buf.size(), f);
  bool err = std::ferror(f);
  std::fclose(f);
  ISH_CHECK(!err && got == buf.size(), "image ", path, ": read error");
}

void decode_file(const std::string& path, Image& out, const DecodeOptions& opt) {
  thread_local std::vector<uint8_t> buf;
  read_file(path, buf);
  decode_memory(buf.data(), buf.size(), path, out, opt);
}

Image decode_file(const std::string& path, const DecodeOptions& opt) {
  Image im;
  decode_file(path, im, opt);
  return im;
}

}  // namespace ish::img
