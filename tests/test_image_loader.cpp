// Image lists (OpenOOD format and its errors), the batch loader (order, determinism across thread
// counts, skipping and --strict, allocator hook) and RandomResizedCrop (determinism and bounds).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine/image/batch_tensor.h"
#include "engine/ops.h"
#include "engine/image/imglist.h"
#include "engine/image/loader.h"
#include "engine/image/transform.h"
#include "tests/util.h"

using namespace ish;
using namespace ish::img;

namespace {

std::string img_dir() { return test::fixture_dir() + "/image"; }

// A list over the fixture images with some corrupt entries, written to the fixture dir.
ImgList fixture_list(bool with_bad) {
  REQUIRE_MESSAGE(test::have_fixture("image/china.jpg"), "missing image fixtures (make fixtures)");
  std::string text =
      "china.jpg 3\ngrace_hopper.jpg 1\nflower.jpg -1\ns420.jpg 7\ngray.jpg 2\ncmyk.jpg 0\npng_rgba.png 5\n"
      "odd_257x300.jpg 4\ntiny_13x7.jpg 9\ns444.jpg 8\n";
  if (with_bad) text += "bad_trunc_60.jpg 1\nmissing.jpg 2\nprogressive.jpg 6\nbad_garbage.jpg 3\n";
  text += "png_palette.png 11\n\n\n";
  return parse_imglist(text, "fixture_list.txt", img_dir());
}

std::vector<std::vector<uint8_t>> run(const ImgList& L, LoaderOptions o, std::vector<int64_t>* idx = nullptr,
                                      std::vector<int64_t>* lab = nullptr, std::vector<int>* sizes = nullptr) {
  Loader ld(L, o);
  std::vector<std::vector<uint8_t>> out;
  const size_t esz = o.format == PixelFormat::F32 ? 4 : 1;
  while (const Batch* b = ld.next()) {
    const size_t per = (size_t)b->h * b->w * b->c * esz;
    for (int i = 0; i < b->n; i++) {
      const uint8_t* p = static_cast<const uint8_t*>(b->data) + i * per;
      out.emplace_back(p, p + per);
      if (idx) idx->push_back(b->indices[i]);
      if (lab) lab->push_back(b->labels[i]);
    }
    if (sizes) sizes->push_back(b->n);
  }
  return out;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("imglist: parses the OpenOOD format") {
  ImgList L = parse_imglist("a/b.jpg 3\r\nc/d.jpg -1\n/abs/x.png  12 \n\n  \n", "l.txt", "/data/root/");
  REQUIRE(L.items.size() == 3);
  CHECK(L.items[0].path == "/data/root/a/b.jpg");
  CHECK(L.items[0].label == 3);
  CHECK(L.items[1].label == -1);
  CHECK(L.items[2].path == "/abs/x.png");  // os.path.join keeps absolute paths
  CHECK(L.items[2].label == 12);
  CHECK(L.items[2].line == 3);
  // Split on the first space: a path with a space leaves "d.jpg -1" as the label, which is an error.
  CHECK_THROWS_WITH_AS(parse_imglist("c d.jpg -1\n", "l.txt", ""), doctest::Contains("l.txt:1: bad label"), Error);
}

TEST_CASE("imglist: errors name the file and line") {
  auto err = [](const std::string& text) {
    try {
      parse_imglist(text, "my_list.txt", "root");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err("a.jpg 1\nb.jpg x\n").find("my_list.txt:2: bad label 'x'") != std::string::npos);
  CHECK(err("a.jpg 1\nnolabel\n").find("my_list.txt:2") != std::string::npos);
  CHECK(err("a.jpg 1\n\nb.jpg 2\n").find("my_list.txt:2: blank line") != std::string::npos);
  CHECK(err("a.jpg -2\n").find("my_list.txt:1") != std::string::npos);
  CHECK(err(" a.jpg 1\n").find("my_list.txt:1: empty path") != std::string::npos);
  CHECK(err("").find("my_list.txt: empty list") != std::string::npos);
  CHECK(err("\n\n").find("empty list") != std::string::npos);
  CHECK(err("a.jpg 99999999999999999999999\n").find("bad label") != std::string::npos);
  CHECK(err("a.jpg 1_0\n") == "no error");  // Python int() accepts 1_0
  CHECK_THROWS_WITH_AS(read_imglist("/nonexistent/list.txt", ""), doctest::Contains("/nonexistent/list.txt"), Error);
  // check_files: a missing image names its line.
  const std::string p = test::fixture_dir() + "/image_list_missing.txt";
  std::ofstream(p) << "china.jpg 1\nnope.jpg 2\n";
  CHECK_THROWS_WITH_AS(read_imglist(p, img_dir(), true), doctest::Contains("image_list_missing.txt:2"), Error);
  CHECK(read_imglist(p, img_dir(), false).items.size() == 2);
}

TEST_CASE("loader: list order, labels, and identical bytes for 0, 1, 2 and 3 threads") {
  ImgList L = fixture_list(false);
  LoaderOptions o;
  o.batch_size = 4;
  o.threads = 0;
  o.warn = false;
  std::vector<int64_t> idx, lab;
  std::vector<int> sizes;
  auto ref = run(L, o, &idx, &lab, &sizes);
  REQUIRE(ref.size() == L.items.size());
  CHECK(sizes == std::vector<int>{4, 4, 3});
  for (size_t i = 0; i < idx.size(); i++) {
    CHECK(idx[i] == (int64_t)i);
    CHECK(lab[i] == L.items[i].label);
  }
  // The first image equals the single-image eval path.
  Image im = decode_file(L.items[0].path);
  std::vector<uint8_t> u8(224 * 224 * 3);
  std::vector<float> f(u8.size());
  eval_u8(view(im), 256, 224, 224, u8.data());
  normalize(u8.data(), 224 * 224, NormLut(), f.data());
  CHECK(std::memcmp(ref[0].data(), f.data(), f.size() * 4) == 0);
  for (int th : {1, 2, 3}) {
    o.threads = th;
    o.prefetch = th;
    CHECK_MESSAGE(run(L, o) == ref, "threads=" << th);
  }
}

TEST_CASE("loader: corrupt files are skipped and counted, or abort under strict") {
  ImgList L = fixture_list(true);
  LoaderOptions o;
  o.batch_size = 5;
  o.threads = 2;
  o.format = PixelFormat::U8;
  o.warn = false;
  std::vector<int64_t> idx;
  int64_t skipped = 0;
  std::vector<std::string> msgs;
  {
    Loader ld(L, o);
    while (const Batch* b = ld.next()) {
      for (int i = 0; i < b->n; i++) idx.push_back(b->indices[i]);
      for (auto& m : b->skipped) msgs.push_back(m);
    }
    skipped = ld.skipped();
    CHECK(ld.loaded() == (int64_t)L.items.size() - 3);
  }
  CHECK(skipped == 3);
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].find("fixture_list.txt:11") != std::string::npos);
  CHECK(msgs[1].find("missing.jpg") != std::string::npos);
  CHECK(msgs[2].find("bad_garbage.jpg") != std::string::npos);
  CHECK(idx == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 14});
  o.threads = 1;
  auto again = run(L, o);
  o.threads = 3;
  CHECK(run(L, o) == again);
  o.strict = true;
  Loader ld(L, o);
  CHECK(ld.next() != nullptr);
  CHECK(ld.next() != nullptr);
  CHECK_THROWS_WITH_AS(ld.next(), doctest::Contains("bad_trunc_60.jpg"), Error);
}

TEST_CASE("loader: allocator hook, u8 vs f32, training mode determinism") {
  ImgList L = fixture_list(false);
  std::atomic<int> allocs{0}, frees{0};
  LoaderOptions o;
  o.batch_size = 3;
  o.threads = 2;
  o.warn = false;
  o.allocator.alloc = [&](size_t n) { allocs++; return std::malloc(n); };
  o.allocator.free = [&](void* p) { frees++; std::free(p); };
  o.format = PixelFormat::U8;
  auto u8 = run(L, o);
  CHECK(allocs.load() == o.prefetch + 1);
  CHECK(frees.load() == allocs.load());
  o.format = PixelFormat::F32;
  auto f32 = run(L, o);
  REQUIRE(u8.size() == f32.size());
  const NormLut lut;
  std::vector<float> tmp(224 * 224 * 3);
  normalize(u8[5].data(), 224 * 224, lut, tmp.data());
  CHECK(std::memcmp(tmp.data(), f32[5].data(), tmp.size() * 4) == 0);
  // Train mode: same seed and epoch -> same bytes for any thread count; another epoch differs.
  o.train = true;
  o.transform.crop = 64;
  o.seed = 42;
  o.threads = 1;
  auto t1 = run(L, o);
  o.threads = 3;
  CHECK(run(L, o) == t1);
  o.epoch = 1;
  CHECK(run(L, o) != t1);
}

TEST_CASE("RandomResizedCrop: deterministic given the Rng, within bounds, area and ratio ranges") {
  const RrcParams p;
  int fallback_like = 0;
  for (auto wh : {std::pair<int, int>{500, 375}, {224, 224}, {13, 7}, {1, 50}, {1000, 10}, {3, 3}}) {
    Rng a(7), b(7);
    for (int i = 0; i < 300; i++) {
      Rect r = rrc_sample(wh.first, wh.second, a);
      Rect s = rrc_sample(wh.first, wh.second, b);
      CHECK((r.x == s.x && r.y == s.y && r.w == s.w && r.h == s.h));
      CHECK(r.w >= 1);
      CHECK(r.h >= 1);
      CHECK(r.x >= 0);
      CHECK(r.y >= 0);
      CHECK(r.x + r.w <= wh.first);
      CHECK(r.y + r.h <= wh.second);
      const double area = (double)r.w * r.h / ((double)wh.first * wh.second);
      const double ratio = (double)r.w / r.h;
      if (wh.first >= 100 && wh.second >= 100) {
        // Rounding w and h to integers moves area and ratio a little outside the sampled ranges.
        CHECK(area >= 0.08 * 0.97);
        CHECK(area <= 1.0);
        CHECK(ratio >= 0.75 * 0.97);
        CHECK(ratio <= 4.0 / 3.0 * 1.03);
      }
      if (r.x == (wh.first - r.w) / 2 && r.y == (wh.second - r.h) / 2) fallback_like++;
    }
  }
  CHECK(fallback_like > 0);
  // The fallback on an extreme aspect ratio: a centred crop with the ratio clamped to 3/4.
  Rng r(1);
  Rect f = rrc_sample(1, 50, r);
  CHECK((f.w == 1 && f.h == 1 && f.x == 0 && f.y == 24));
  Rect g = rrc_sample(1000, 10, r);
  CHECK((g.h == 10 && g.w == 13 && g.x == 493 && g.y == 0));
  // train_u8 is deterministic and its output differs between Rng streams.
  Image im;
  im.w = 97;
  im.h = 61;
  im.px.resize(97 * 61 * 3);
  for (size_t i = 0; i < im.px.size(); i++) im.px[i] = (uint8_t)(i * 37 % 251);
  std::vector<uint8_t> o1(32 * 32 * 3), o2(o1.size()), o3(o1.size());
  Rng x(5), y(5), z(6);
  train_u8(view(im), 32, 32, x, p, 0.5, o1.data());
  train_u8(view(im), 32, 32, y, p, 0.5, o2.data());
  train_u8(view(im), 32, 32, z, p, 0.5, o3.data());
  CHECK(o1 == o2);
  CHECK(o1 != o3);
}

TEST_CASE("train transform: flip_p is the flip probability (0 never, 1 always, 0.25 a quarter)") {
  Image im;
  im.w = 40;
  im.h = 30;
  im.px.resize(40 * 30 * 3);
  for (size_t i = 0; i < im.px.size(); i++) im.px[i] = (uint8_t)(i * 53 % 241);
  Transform t;
  t.crop = 16;
  std::vector<uint8_t> never(16 * 16 * 3), always(never.size()), quarter(never.size());
  int flips = 0;
  const int kSeeds = 2000;
  for (int seed = 0; seed < kSeeds; seed++) {
    Rng a(seed), b(seed), c(seed);
    t.flip_p = 0;
    apply_train(view(im), t, a, never.data());
    t.flip_p = 1;
    apply_train(view(im), t, b, always.data());
    t.flip_p = 0.25;
    apply_train(view(im), t, c, quarter.data());
    std::vector<uint8_t> mirrored = never;
    hflip(mirrored.data(), 16, 16);
    REQUIRE(always == mirrored);  // the same crop, mirrored
    if (quarter == always && quarter != never) flips++;
    else REQUIRE(quarter == never);
  }
  // Binomial(2000, 0.25): mean 500, sd 19.4; +-5 sd.
  MESSAGE("flips at p=0.25: " << flips << " of " << kSeeds);
  CHECK(flips > 403);
  CHECK(flips < 597);
}

TEST_CASE("loader: one-channel in-memory images, eval identity, F32 and U8 batches") {
  const int N = 7, S = 12;
  std::vector<uint8_t> px(N * S * S);
  for (size_t i = 0; i < px.size(); i++) px[i] = (uint8_t)(i * 29 % 256);
  std::vector<int64_t> labels{0, 1, 2, 0, 1, 2, 0};
  MemorySource src(px, labels, S, S, 1, "mem");
  LoaderOptions o;
  o.batch_size = 3;
  o.threads = 2;
  o.transform.resize = 0;
  o.transform.crop = S;
  o.transform.norm.channels = 1;
  o.transform.norm.mean[0] = 0.3f;
  o.transform.norm.std[0] = 0.2f;
  const NormLut lut(o.transform.norm);
  std::vector<std::vector<float>> inputs[2];  // the model's input tensors from F32 and from U8 batches
  for (PixelFormat fmt : {PixelFormat::F32, PixelFormat::U8}) {
    o.format = fmt;
    Loader ld(src, o);
    int64_t seen = 0;
    while (const Batch* b = ld.next()) {
      REQUIRE(b->c == 1);
      Tensor x = batch_tensor(*b, o.transform, Device::CPU);
      CHECK(x.shape() == Shape({b->n, S, S, 1}));
      inputs[fmt == PixelFormat::U8].push_back(x.to_f32_vector());
      for (int k = 0; k < b->n; k++) {
        const int64_t i = b->indices[k];
        CHECK(b->labels[k] == labels[i]);
        for (int p = 0; p < S * S; p++) {
          const uint8_t v = px[i * S * S + p];
          if (fmt == PixelFormat::U8) REQUIRE(b->u8()[k * S * S + p] == v);
          else REQUIRE(b->f32()[k * S * S + p] == ((float)v / 255.0f - 0.3f) / 0.2f);
        }
      }
      seen += b->n;
    }
    CHECK(seen == N);
  }
  CHECK(inputs[0] == inputs[1]);  // host normalisation == the U8 path's
  CHECK(lut.v[0][255] == (1.0f - 0.3f) / 0.2f);
}

TEST_CASE("epoch_order: a permutation fixed by (seed, epoch); identity without shuffle") {
  auto a = epoch_order(100, 9, 0, true), b = epoch_order(100, 9, 0, true), c = epoch_order(100, 9, 1, true);
  CHECK(a == b);
  CHECK(a != c);
  std::vector<int64_t> s = a;
  std::sort(s.begin(), s.end());
  CHECK(s == epoch_order(100, 9, 0, false));
  CHECK(s[99] == 99);
}

TEST_CASE("loader: U8 RGB batches normalised by ops::normalize_u8 equal the host table bit for bit") {
  // The device path (input_format(cuda) == U8) runs ops::normalize_u8 where the model is; its CPU twin
  // must give exactly the host F32 path's values, for every byte value and channel.
  CHECK(input_format(Device::CPU) == PixelFormat::F32);
  CHECK(input_format(Device::CUDA) == PixelFormat::U8);
  Normalize norm;  // ImageNet's
  const NormLut lut(norm);
  Tensor u = Tensor::empty({1, 16, 16, 3}, DType::U8);
  for (int i = 0; i < 16 * 16 * 3; i++) u.data<uint8_t>()[i] = (uint8_t)((i / 3) % 256);
  Tensor x = ops::normalize_u8(u, {norm.mean[0], norm.mean[1], norm.mean[2]}, {norm.std[0], norm.std[1], norm.std[2]});
  REQUIRE(x.dtype() == DType::F32);
  int bad = 0;
  for (int i = 0; i < 16 * 16 * 3; i++) bad += x.data<float>()[i] != lut.v[i % 3][u.data<uint8_t>()[i]];
  CHECK(bad == 0);
}

}  // TEST_SUITE
