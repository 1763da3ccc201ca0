// notMNIST-style letters: A-Z rendered with stb_truetype at 28x28, white glyph on black (as MNIST),
// from TrueType faces in several pixel sizes and offsets.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "demo/data.h"

namespace ish::demo {

// One loaded TrueType face (the file stays in memory for stb_truetype).
class Font {
 public:
  explicit Font(const std::string& path);  // throws ish::Error naming the file
  ~Font();
  Font(const Font&) = delete;
  Font& operator=(const Font&) = delete;
  const std::string& path() const { return path_; }
  // Renders `ch` into a 28x28 canvas (row-major, overwritten): the glyph's ink box is scaled so its
  // height is `px` pixels, centred, then shifted by (dx, dy). Ink outside the canvas is clipped.
  // Returns the number of non-zero pixels.
  int64_t render(int ch, double px, int dx, int dy, uint8_t* canvas) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// The DejaVu faces the demo uses, as present in font_dir: the letters' test faces and a held-out
// face for the OOD validation split (never among the test faces). Needs at least two faces.
struct FaceSplit {
  std::vector<std::string> test_faces;
  std::string val_face;
};
FaceSplit choose_faces(const std::string& font_dir);

// n letters cycling A..Z; face, pixel height (16-24) and offset (+-2) drawn from a seeded Rng.
// Labels are -1 (OOD). Deterministic for fixed (faces, n, seed).
ImageSet render_letters(const std::vector<std::string>& faces, int64_t n, uint64_t seed, const std::string& name);

}  // namespace ish::demo
