// Image pipeline against PIL 9.4 + torchvision 0.14 (tools/fixtures_image.py): decoding, eval
// Resize+CenterCrop, resize-only with and without a box, crop+resize+flip and the training
// augmentation (RandomResizedCrop + RandomHorizontalFlip) — all bit-exact (0 differing bytes) — and
// normalised floats. Corrupt files must throw an ish::Error naming the file.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/image/image.h"
#include "engine/image/resize.h"
#include "engine/image/transform.h"
#include "engine/rng.h"
#include "tests/util.h"
#include "weights/safetensors.h"

using namespace ish;
using namespace ish::img;

namespace {

struct Goldens {
  st::File file;
  nlohmann::json cases;
  std::string dir;
};

const Goldens& goldens() {
  static Goldens* g = [] {
    REQUIRE_MESSAGE(test::have_fixture("image.safetensors"), "missing fixture image.safetensors (make fixtures)");
    auto* r = new Goldens{st::File::open(test::fixture_dir() + "/image.safetensors"), {}, test::fixture_dir() + "/image/"};
    r->cases = nlohmann::json::parse(r->file.metadata().at("cases"));
    return r;
  }();
  return *g;
}

// Number of differing bytes between our buffer and the golden tensor `key` (shape checked).
int64_t diff_bytes(const std::string& key, const uint8_t* ours, int h, int w, int c = 3) {
  const Goldens& g = goldens();
  const auto& info = g.file.info(key);
  REQUIRE(info.dtype == DType::U8);
  REQUIRE_MESSAGE(info.shape == Shape({h, w, c}), key << ": golden shape " << shape_str(info.shape) << " vs ours "
                                                     << h << "x" << w << "x" << c);
  const uint8_t* ref = static_cast<const uint8_t*>(g.file.bytes(key));
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < (int64_t)h * w * c; i++)
    if (ours[i] != ref[i]) { bad++; if (first < 0) first = i; }
  if (bad) MESSAGE(key << ": first difference at " << first << " ours " << (int)ours[first] << " ref " << (int)ref[first]);
  return bad;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("image: decode matches PIL convert('RGB') bit-exactly") {
  const Goldens& g = goldens();
  int n = 0;
  for (const auto& c : g.cases) {
    if (c["kind"] != "eval" || !g.file.has(c["name"].get<std::string>() + ".decoded")) continue;
    const std::string name = c["name"];
    Image im = decode_file(g.dir + c["file"].get<std::string>());
    CHECK_MESSAGE(diff_bytes(name + ".decoded", im.px.data(), im.h, im.w) == 0, name);
    n++;
  }
  CHECK(n >= 25);
}

// Checks every eval case of `kind` ("eval": bilinear, "eval_bicubic"); returns how many ran.
static int check_eval_cases(const char* kind = "eval", Interpolation f = Interpolation::Bilinear) {
  const Goldens& g = goldens();
  const NormLut lut;
  int n = 0, nnorm = 0;
  for (const auto& c : g.cases) {
    if (c["kind"] != kind) continue;
    const std::string name = c["name"];
    const std::string key = g.file.has(name + ".eval") ? name + ".eval" : name;
    const int rs = c["resize"], cs = c["crop"];
    Image im = decode_file(g.dir + c["file"].get<std::string>());
    std::vector<uint8_t> out((size_t)cs * cs * 3, 0xAB);
    eval_u8(view(im), rs, cs, cs, out.data(), f);
    CHECK_MESSAGE(diff_bytes(key, out.data(), cs, cs) == 0, key);
    if (g.file.has(name + ".norm")) {
      std::vector<float> f(out.size());
      normalize(out.data(), (size_t)cs * cs, lut, f.data());
      Tensor ours = Tensor::from_f32(f, {cs, cs, 3});
      // 1e-6: float32 ops in the same order as ToTensor+Normalize (in practice the max error is 0).
      test::check_close(ours, g.file.load(name + ".norm"), 0, 1e-6, key + " normalised");
      nnorm++;
    }
    n++;
  }
  if (f == Interpolation::Bilinear) CHECK(nnorm >= 11);
  return n;
}

TEST_CASE("image: eval Resize+CenterCrop is bit-exact with torchvision, normalised floats match") {
  CHECK(check_eval_cases() >= 30);  // AVX2 passes where the CPU has them
}

TEST_CASE("image: the portable (non-SIMD) resize passes are bit-exact too") {
  kern::force_portable(true);
  const int n = check_eval_cases();
  kern::force_portable(false);
  CHECK(n >= 30);
}

TEST_CASE("image: bicubic eval Resize(232)+CenterCrop(224) is bit-exact with torchvision (SIMD and portable)") {
  CHECK(check_eval_cases("eval_bicubic", Interpolation::Bicubic) >= 25);
  kern::force_portable(true);
  const int n = check_eval_cases("eval_bicubic", Interpolation::Bicubic);
  kern::force_portable(false);
  CHECK(n >= 25);
}

TEST_CASE("image: per-architecture eval defaults; the interpolation is part of the cache key and description") {
  const Transform r = Transform::eval_default("resnet50"), v = Transform::eval_default("vit_b_16"),
                  s = Transform::eval_default("swin-t");
  CHECK((r.resize == 256 && r.crop == 224 && r.interpolation == Interpolation::Bilinear));
  CHECK(v.eval_key() == r.eval_key());
  CHECK((s.resize == 232 && s.crop == 224 && s.interpolation == Interpolation::Bicubic));
  Transform b = r;
  b.interpolation = Interpolation::Bicubic;
  CHECK(b.eval_key() != r.eval_key());
  CHECK(b.eval_key().find("bicubic") != std::string::npos);
  CHECK(b.describe_eval().find("bicubic") != std::string::npos);
  CHECK(r.eval_key().rfind("pil-bilinear-256/center-crop-224/", 0) == 0);  // the key existing caches hold
}

TEST_CASE("image: the normalisation table equals ToTensor+Normalize for all 256 values") {
  const NormLut lut;
  Tensor ref = goldens().file.load("norm_lut");  // [256, 3]
  std::vector<float> ours(256 * 3);
  for (int i = 0; i < 256; i++)
    for (int c = 0; c < 3; c++) ours[i * 3 + c] = lut.v[c][i];
  test::check_close(Tensor::from_f32(ours, {256, 3}), ref, 0, 0, "norm lut (exact)");
}

TEST_CASE("image: resize-only goldens (down, up, non-square, box), bilinear and bicubic, are bit-exact") {
  const Goldens& g = goldens();
  int n = 0, nb = 0;
  for (const auto& c : g.cases) {
    if (c["kind"] != "resize" && c["kind"] != "resize_bicubic") continue;
    const Interpolation f = c["kind"] == "resize" ? Interpolation::Bilinear : Interpolation::Bicubic;
    const std::string name = c["name"];
    Image im = decode_file(g.dir + c["file"].get<std::string>());
    const int w = c["w"], h = c["h"];
    Box box;
    const Box* bp = nullptr;
    if (!c["box"].is_null()) {
      box = Box{c["box"][0].get<float>(), c["box"][1].get<float>(), c["box"][2].get<float>(), c["box"][3].get<float>()};
      bp = &box;
    }
    Image r = resize(view(im), w, h, f, bp);
    CHECK_MESSAGE(diff_bytes(name, r.px.data(), h, w) == 0, name);
    // A sub-rectangle computed alone equals the same pixels of the full resize.
    const Rect roi{w / 3, h / 4, w / 2 + 1, h / 2 + 1};
    std::vector<uint8_t> part((size_t)roi.w * roi.h * 3);
    resize(view(im), w, h, f, bp, roi, part.data(), (ptrdiff_t)roi.w * 3);
    int64_t bad = 0;
    for (int y = 0; y < roi.h; y++)
      bad += std::memcmp(&part[(size_t)y * roi.w * 3], r.row(roi.y + y) + roi.x * 3, (size_t)roi.w * 3) != 0;
    CHECK_MESSAGE(bad == 0, name << " roi");
    (f == Interpolation::Bilinear ? n : nb)++;
  }
  CHECK(n == 6);
  CHECK(nb == 6);
}

// resized_crop_u8 is the function the training augmentation (train_u8, the loader's train mode) runs
// after sampling the crop; one-channel cases ('L' images) take the R byte, as the loader does.
TEST_CASE("image: crop-then-resize (RandomResizedCrop's resized_crop) and hflip are bit-exact, RGB and L") {
  const Goldens& g = goldens();
  int n = 0, gray = 0;
  for (const auto& c : g.cases) {
    if (c["kind"] != "rrc") continue;
    const std::string name = c["name"];
    Image im = decode_file(g.dir + c["file"].get<std::string>());
    const int s = c["size"];
    const int ch = c.value("channels", 3);
    const Rect r{c["left"], c["top"], c["w"], c["h"]};
    std::vector<uint8_t> out((size_t)s * s * 3);
    resized_crop_u8(view(im), r, s, s, c["flip"].get<bool>(), out.data());
    pack_channels(out.data(), (size_t)s * s, ch, out.data());
    CHECK_MESSAGE(diff_bytes(name, out.data(), s, s, ch) == 0, name);
    n++;
    gray += ch == 1;
  }
  CHECK(n == 8);
  CHECK(gray == 2);
}

// The training transform end to end (rrc_sample's fallback, crop, PIL resize, flip) against
// torchvision's RandomResizedCrop + RandomHorizontalFlip: scale (2, 2.5) never fits, so both sides take
// the deterministic fallback; flip probability 0 or 1 is deterministic whatever the random draw.
TEST_CASE("image: the training augmentation (RandomResizedCrop + flip) is bit-exact with torchvision") {
  const Goldens& g = goldens();
  int n = 0, flipped = 0;
  for (const auto& c : g.cases) {
    if (c["kind"] != "train") continue;
    const std::string name = c["name"];
    Image im = decode_file(g.dir + c["file"].get<std::string>());
    Transform t;
    t.crop = c["size"];
    t.rrc.scale_min = c["scale"][0];
    t.rrc.scale_max = c["scale"][1];
    t.rrc.ratio_min = c["ratio"][0];
    t.rrc.ratio_max = c["ratio"][1];
    t.flip_p = c["flip_p"];
    std::vector<uint8_t> out((size_t)t.crop * t.crop * 3);
    for (uint64_t seed : {1, 2, 3}) {
      Rng rng(seed);
      apply_train(view(im), t, rng, out.data());
      CHECK_MESSAGE(diff_bytes(name, out.data(), t.crop, t.crop) == 0, name << " seed " << seed);
    }
    n++;
    flipped += t.flip_p == 1.0;
  }
  CHECK(n == 6);
  CHECK(flipped == 3);
}

TEST_CASE("image: corrupt, truncated, empty and oversized files throw an error naming the file") {
  const Goldens& g = goldens();
  int n = 0;
  for (const auto& c : g.cases) {
    if (c["kind"] != "corrupt" || c["pil_ok"].get<bool>()) continue;  // PIL-decodable ones are eval cases
    const std::string path = g.dir + c["file"].get<std::string>();
    std::string msg;
    try {
      decode_file(path);
    } catch (const Error& e) {
      msg = e.what();
      CHECK(e.code == 2);
    }
    CHECK_MESSAGE(msg.find(path) != std::string::npos, c["name"] << ": '" << msg << "'");
    if (c["name"] == "bad_bomb") CHECK_MESSAGE(msg.find("exceeds the cap") != std::string::npos, msg);
    if (c["name"] == "bad_trunc_60") CHECK_MESSAGE(msg.find("truncated") != std::string::npos, msg);
    n++;
  }
  CHECK(n == 7);
  CHECK_THROWS_AS(decode_file(g.dir + "does_not_exist.jpg"), Error);
}

TEST_CASE("image: the pixel cap is checked from the header before decoding") {
  const Goldens& g = goldens();
  DecodeOptions small;
  small.max_pixels = 1000;
  for (const char* f : {"china.jpg", "png_rgba.png"}) {
    CHECK_THROWS_WITH_AS(decode_file(g.dir + f, small), doctest::Contains("exceeds the cap"), Error);
    Info info;
    std::vector<uint8_t> buf;
    read_file(g.dir + f, buf);
    info = probe_memory(buf.data(), buf.size(), f);
    CHECK(info.w * info.h > 1000);
  }
  DecodeOptions off;
  off.max_pixels = 0;  // disabled
  CHECK(decode_file(g.dir + "china.jpg", off).w == 640);
}

TEST_CASE("image: torchvision size rules") {
  int w, h, l, t;
  resize_short_side(500, 375, 256, w, h);
  CHECK((w == 341 && h == 256));
  resize_short_side(375, 500, 256, w, h);
  CHECK((w == 256 && h == 341));
  resize_short_side(225, 1000, 256, w, h);  // 256*1000/225 = 1137.77 -> 1137
  CHECK((w == 256 && h == 1137));
  resize_short_side(300, 300, 256, w, h);
  CHECK((w == 256 && h == 256));
  center_crop_offsets(257, 300, 224, 224, l, t);  // 16.5 -> 16, 38
  CHECK((l == 16 && t == 38));
  center_crop_offsets(259, 260, 224, 224, l, t);  // 17.5 -> 18, 18
  CHECK((l == 18 && t == 18));
  center_crop_offsets(20, 21, 28, 28, l, t);  // padding (8//2, 7//2)
  CHECK((l == -4 && t == -3));
  // An extreme aspect ratio resizes to 256 x 5,120,000 virtually: only the crop's taps are computed.
  Image thin;
  thin.w = 1;
  thin.h = 20000;
  thin.px.assign(3 * 20000, 77);
  std::vector<uint8_t> out(224 * 224 * 3);
  eval_u8(view(thin), 256, 224, 224, out.data());
  CHECK(out[0] == 77);
  CHECK(out.back() == 77);
}

TEST_CASE("image: resize coefficients are normalised fixed point") {
  img::detail::Coeffs c;
  for (auto f : {Interpolation::Bilinear, Interpolation::Bicubic})
  for (auto io : {std::pair<int, int>{640, 383}, {13, 256}, {1000, 7}, {300, 300}}) {
    img::detail::precompute_coeffs(c, io.first, 0.f, (float)io.first, io.second, 0, -1, f);
    // Taps span the filter's support: 2 * (1 or 2) * max(scale, 1) + 1 at most.
    CHECK(c.ksize == (int)std::ceil((f == Interpolation::Bicubic ? 2.0 : 1.0) * std::max(1.0, (double)io.first / io.second)) * 2 + 1);
    for (int x = 0; x < io.second; x++) {
      int64_t s = 0;
      for (int t = 0; t < c.n[x]; t++) s += c.k[(size_t)x * c.ksize + t];
      CHECK(std::abs(s - (1 << 22)) <= c.n[x]);  // each tap rounds by at most 1/2
      CHECK(c.xmin[x] >= 0);
      CHECK(c.xmin[x] + c.n[x] <= io.first);
    }
  }
}

}  // TEST_SUITE
