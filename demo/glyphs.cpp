// This translation unit holds the program's one STB_TRUETYPE_IMPLEMENTATION.
#define STB_TRUETYPE_IMPLEMENTATION
#include <stb/stb_truetype.h>

#include "demo/glyphs.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "engine/error.h"
#include "engine/rng.h"

namespace ish::demo {

struct Font::Impl {
  std::vector<unsigned char> bytes;
  stbtt_fontinfo info;
};

Font::Font(const std::string& path) : impl_(new Impl), path_(path) {
  std::ifstream f(path, std::ios::binary);
  ISH_CHECK(f, path, ": cannot open font (is fonts-dejavu-core installed? run 'make deps')");
  impl_->bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  ISH_CHECK(impl_->bytes.size() >= 12, path, ": not a TrueType font (", impl_->bytes.size(), " bytes)");
  int off = stbtt_GetFontOffsetForIndex(impl_->bytes.data(), 0);
  ISH_CHECK(off >= 0 && stbtt_InitFont(&impl_->info, impl_->bytes.data(), off), path, ": not a TrueType font");
}

Font::~Font() = default;

int64_t Font::render(int ch, double px, int dx, int dy, uint8_t* canvas) const {
  const int S = (int)ImageSet::kSide;
  std::fill(canvas, canvas + S * S, 0);
  const stbtt_fontinfo* fi = &impl_->info;
  ISH_CHECK(stbtt_FindGlyphIndex(fi, ch) != 0, path_, ": no glyph for code point ", ch);
  int x0, y0, x1, y1;
  ISH_CHECK(stbtt_GetCodepointBox(fi, ch, &x0, &y0, &x1, &y1) && y1 > y0 && x1 > x0, path_,
            ": empty glyph for code point ", ch);
  // Ink height = px; wide glyphs (M, W) are shrunk to keep a 2-pixel margin.
  float scale = (float)(px / (y1 - y0));
  scale = std::min(scale, (float)((S - 4) / (double)(x1 - x0)));
  int bx0, by0, bx1, by1;
  stbtt_GetCodepointBitmapBox(fi, ch, scale, scale, &bx0, &by0, &bx1, &by1);
  const int w = bx1 - bx0, h = by1 - by0;
  if (w <= 0 || h <= 0) return 0;
  std::vector<unsigned char> glyph((size_t)w * h);
  stbtt_MakeCodepointBitmap(fi, glyph.data(), w, h, w, scale, scale, ch);
  const int top = (S - h) / 2 + dy, left = (S - w) / 2 + dx;
  int64_t ink = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const int cy = top + y, cx = left + x;
      if (cy < 0 || cy >= S || cx < 0 || cx >= S) continue;
      canvas[cy * S + cx] = glyph[(size_t)y * w + x];
      ink += glyph[(size_t)y * w + x] != 0;
    }
  return ink;
}

namespace {
bool file_exists(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0 && S_ISREG(sb.st_mode);
}
}  // namespace

FaceSplit choose_faces(const std::string& font_dir) {
  // The held-out face is taken first from this list (fonts-dejavu-extra, then -core); the test faces
  // are every other present face of kFaces.
  static const char* kVal[] = {"DejaVuSansCondensed-BoldOblique.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSans-Bold.ttf"};
  static const char* kFaces[] = {
      "DejaVuSans.ttf",           "DejaVuSans-Bold.ttf",          "DejaVuSans-Oblique.ttf",
      "DejaVuSans-BoldOblique.ttf", "DejaVuSansCondensed.ttf",    "DejaVuSansCondensed-Bold.ttf",
      "DejaVuSansCondensed-Oblique.ttf", "DejaVuSerif.ttf",       "DejaVuSerif-Bold.ttf",
      "DejaVuSansMono.ttf",       "DejaVuSansMono-Bold.ttf",      "DejaVuSans-ExtraLight.ttf"};
  FaceSplit fs;
  for (const char* v : kVal)
    if (file_exists(font_dir + "/" + v)) {
      fs.val_face = font_dir + "/" + v;
      break;
    }
  for (const char* f : kFaces) {
    std::string p = font_dir + "/" + f;
    if (p != fs.val_face && file_exists(p)) fs.test_faces.push_back(p);
  }
  ISH_CHECK(!fs.val_face.empty() && !fs.test_faces.empty(), font_dir,
            ": need at least two DejaVu faces (one held out for OOD validation), found ",
            fs.test_faces.size() + !fs.val_face.empty(), "; install fonts-dejavu-core (make deps)");
  return fs;
}

ImageSet render_letters(const std::vector<std::string>& faces, int64_t n, uint64_t seed, const std::string& name) {
  ISH_CHECK(!faces.empty(), name, ": no font faces to render letters with");
  std::vector<std::unique_ptr<Font>> fonts;
  for (auto& f : faces) fonts.emplace_back(new Font(f));
  ImageSet s;
  s.name = name;
  s.pixels.resize((size_t)n * ImageSet::kPixels);
  Rng rng(seed);
  for (int64_t i = 0; i < n; i++) {
    const int letter = 'A' + (int)(i % 26);
    const Font& f = *fonts[rng.below(fonts.size())];
    const double px = rng.uniform(16.0, 24.0);
    const int dx = (int)rng.below(5) - 2, dy = (int)rng.below(5) - 2;
    int64_t ink = f.render(letter, px, dx, dy, s.pixels.data() + i * ImageSet::kPixels);
    ISH_CHECK(ink > 0, f.path(), ": letter ", (char)letter, " rendered empty");
    s.labels.push_back(-1);
    s.source.push_back(i);
  }
  return s;
}

}  // namespace ish::demo
