// JPEG decoding with libjpeg-turbo, configured as PIL 9.4's JpegDecode.c leaves it for RGB output:
// default ISLOW IDCT, fancy upsampling on, libjpeg's own colour-space detection; "L" and "CMYK;I"
// are decoded raw and converted like Image.convert("RGB").
// libjpeg reports fatal errors through error_exit, which here longjmps back (never exit()). The
// functions holding the jmp_buf keep only objects that are already constructed when setjmp runs.
#include <csetjmp>
#include <cstdio>
// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "engine/error.h"
#include "engine/image/image.h"

namespace ish::img::detail {
namespace {

struct ErrMgr {
  jpeg_error_mgr pub;
  jmp_buf jb;
  bool truncated = false;
  char msg[JMSG_LENGTH_MAX] = {0};
};

void on_error_exit(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrMgr*>(c->err);
  c->err->format_message(c, e->msg);
  std::longjmp(e->jb, 1);
}

// Warnings (level -1) are ignored as in PIL, except running out of data: PIL then raises
// "image file is truncated", so we stop at the first premature-EOF warning.
void on_emit_message(j_common_ptr c, int level) {
  auto* e = reinterpret_cast<ErrMgr*>(c->err);
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
    e->truncated = true;
    std::longjmp(e->jb, 1);
  }
}

struct Decompress {
  jpeg_decompress_struct cinfo;
  ErrMgr err;
  bool created = false;
  ~Decompress() { if (created) jpeg_destroy_decompress(&cinfo); }
};

void init(Decompress& d, const uint8_t* data, size_t n) {
  d.cinfo.err = jpeg_std_error(&d.err.pub);
  d.err.pub.error_exit = on_error_exit;
  d.err.pub.emit_message = on_emit_message;
  jpeg_create_decompress(&d.cinfo);
  d.created = true;
  jpeg_mem_src(&d.cinfo, data, (unsigned long)n);
}

[[noreturn]] void raise(const Decompress& d, const std::string& name) {
  if (d.err.truncated) fail("image ", name, ": image file is truncated (libjpeg: Premature end of JPEG file)");
  fail("image ", name, ": corrupt JPEG (libjpeg: ", d.err.msg, ")");
}

// Returns false when libjpeg longjmp'd out (the error is recorded in d.err).
bool read_header(Decompress& d) {
  if (setjmp(d.err.jb)) return false;
  jpeg_read_header(&d.cinfo, TRUE);
  return true;
}

// Decodes every scanline into out (w*h*comp bytes, sized by the caller), then reads up to EOI.
bool read_pixels(Decompress& d, uint8_t* out, size_t row_bytes) {
  if (setjmp(d.err.jb)) return false;
  jpeg_start_decompress(&d.cinfo);
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW rows[4];
    int k = 0;
    for (; k < 4 && d.cinfo.output_scanline + k < d.cinfo.output_height; k++)
      rows[k] = out + (size_t)(d.cinfo.output_scanline + k) * row_bytes;
    jpeg_read_scanlines(&d.cinfo, rows, (JDIMENSION)k);
  }
  jpeg_finish_decompress(&d.cinfo);
  return true;
}

}  // namespace

Info probe_jpeg(const uint8_t* data, size_t n, const std::string& name) {
  Decompress d;
  init(d, data, n);
  if (!read_header(d)) raise(d, name);
  return Info{(int)d.cinfo.image_width, (int)d.cinfo.image_height, d.cinfo.num_components, Format::JPEG};
}

void decode_jpeg_libjpeg(const uint8_t* data, size_t n, const std::string& name, Image& out,
                         const DecodeOptions& opt) {
  Decompress d;
  init(d, data, n);
  if (!read_header(d)) raise(d, name);
  jpeg_decompress_struct& c = d.cinfo;
  const int comps = c.num_components;
  // PIL maps 1/3/4 layers to L/RGB/CMYK and refuses anything else.
  ISH_CHECK(comps == 1 || comps == 3 || comps == 4, "image ", name, ": cannot handle ", comps,
            "-layer JPEG images");
  check_pixels(c.image_width, c.image_height, name, opt);
  c.dct_method = JDCT_ISLOW;
  c.do_fancy_upsampling = TRUE;
  c.out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
  const int w = (int)c.image_width, h = (int)c.image_height;
  out.w = w;
  out.h = h;
  out.px.resize((size_t)w * h * 3);
  if (comps == 3) {
    if (!read_pixels(d, out.px.data(), (size_t)w * 3)) raise(d, name);
    return;
  }
  thread_local std::vector<uint8_t> raw;
  raw.resize((size_t)w * h * comps);
  if (!read_pixels(d, raw.data(), (size_t)w * comps)) raise(d, name);
  const size_t np = (size_t)w * h;
  uint8_t* o = out.px.data();
  if (comps == 1) {
    for (size_t i = 0; i < np; i++) o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = raw[i];
    return;
  }
  // "CMYK;I": PIL inverts all four samples of every 4-layer JPEG, then cmyk2rgb.
  for (size_t i = 0; i < np; i++) {
    const uint8_t* s = &raw[4 * i];
    const int nk = s[3];  // 255 - (255 - K)
    o[3 * i + 0] = cmyk_channel(255 - s[0], nk);
    o[3 * i + 1] = cmyk_channel(255 - s[1], nk);
    o[3 * i + 2] = cmyk_channel(255 - s[2], nk);
  }
}

}  // namespace ish::img::detail
