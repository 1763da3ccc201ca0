#include "demo/data.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "demo/glyphs.h"
#include "demo/mnist.h"
#include "engine/error.h"
#include "engine/rng.h"

namespace ish::demo {
namespace {

// Reads a whole gzip (or plain: zlib passes it through) file; errors name it.
std::vector<uint8_t> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  ISH_CHECK(f, path, ": cannot open (is dataset-fashion-mnist installed? run 'make deps')");
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    int n = gzread(f, buf.data(), (unsigned)buf.size());
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      fail(path, ": corrupt gzip data (", msg, ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  // A truncated stream ends without an error from gzread but leaves Z_BUF_ERROR behind.
  int code = 0;
  std::string msg = gzerror(f, &code);
  gzclose(f);
  ISH_CHECK(code == Z_OK || code == Z_STREAM_END, path, ": truncated or corrupt gzip data (", msg, ")");
  return out;
}

uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

}  // namespace

IdxArray read_idx_gz(const std::string& path, int ndim) {
  std::vector<uint8_t> raw = read_gz(path);
  ISH_CHECK(raw.size() >= 4, path, ": too short for an IDX header (", raw.size(), " bytes)");
  ISH_CHECK(raw[0] == 0 && raw[1] == 0, path, ": bad IDX magic (first two bytes must be 0)");
  ISH_CHECK(raw[2] == 0x08, path, ": IDX element type 0x", std::hex, (int)raw[2], std::dec,
            " is not unsigned byte (0x08)");
  ISH_CHECK(raw[3] == ndim, path, ": IDX has ", (int)raw[3], " dimensions, expected ", ndim);
  const size_t header = 4 + 4 * (size_t)ndim;
  ISH_CHECK(raw.size() >= header, path, ": truncated IDX header (", raw.size(), " bytes, need ", header, ")");
  IdxArray a;
  size_t count = 1;
  for (int d = 0; d < ndim; d++) {
    uint32_t v = be32(raw.data() + 4 + 4 * d);
    ISH_CHECK(v > 0 && v <= (1u << 24), path, ": IDX dimension ", d, " is ", v);
    a.dims.push_back(v);
    count *= v;
    ISH_CHECK(count <= ((size_t)1 << 32), path, ": IDX payload of ", count, "+ bytes is implausibly large");
  }
  ISH_CHECK(raw.size() - header == count, path, ": IDX payload is ", raw.size() - header, " bytes, the header says ",
            count, raw.size() - header < count ? " (truncated file)" : " (trailing bytes)");
  a.data.assign(raw.begin() + header, raw.end());
  return a;
}

ImageSet load_fashion_split(const std::string& dir, const std::string& split) {
  const std::string ip = dir + "/" + split + "-images-idx3-ubyte.gz";
  const std::string lp = dir + "/" + split + "-labels-idx1-ubyte.gz";
  IdxArray im = read_idx_gz(ip, 3);
  IdxArray lb = read_idx_gz(lp, 1);
  ISH_CHECK(im.dims[1] == ImageSet::kSide && im.dims[2] == ImageSet::kSide, ip, ": images are ", im.dims[1], "x",
            im.dims[2], ", expected 28x28");
  ISH_CHECK(im.dims[0] == lb.dims[0], lp, ": ", lb.dims[0], " labels for ", im.dims[0], " images in ", ip);
  ImageSet s;
  s.name = "fashion-" + split;
  s.pixels = std::move(im.data);
  s.labels.resize(lb.data.size());
  s.source.resize(lb.data.size());
  for (size_t i = 0; i < lb.data.size(); i++) {
    ISH_CHECK(lb.data[i] <= 9, lp, ": label ", (int)lb.data[i], " of item ", i, " is not in 0-9");
    s.labels[i] = lb.data[i];
    s.source[i] = (int64_t)i;
  }
  return s;
}

std::vector<int64_t> stratified_subset(const std::vector<int64_t>& idx, const std::vector<int64_t>& labels,
                                       int64_t n, uint64_t seed) {
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i : idx) by_class[labels[i]].push_back(i);
  Rng rng(seed);
  for (auto& [c, v] : by_class)
    for (int64_t i = (int64_t)v.size() - 1; i > 0; i--) std::swap(v[i], v[rng.below((uint64_t)i + 1)]);
  // Round-robin over classes keeps the subset balanced; then one shuffle mixes the order.
  std::vector<int64_t> out;
  n = std::min<int64_t>(n, (int64_t)idx.size());
  for (size_t r = 0; (int64_t)out.size() < n; r++)
    for (auto& [c, v] : by_class)
      if (r < v.size() && (int64_t)out.size() < n) out.push_back(v[r]);
  for (int64_t i = (int64_t)out.size() - 1; i > 0; i--) std::swap(out[i], out[rng.below((uint64_t)i + 1)]);
  return out;
}

namespace {

ImageSet take(const ImageSet& src, const std::vector<int64_t>& idx, const std::string& name, bool ood) {
  ImageSet s;
  s.name = name;
  s.pixels.resize(idx.size() * ImageSet::kPixels);
  for (size_t j = 0; j < idx.size(); j++) {
    std::copy_n(src.pixels.begin() + idx[j] * ImageSet::kPixels, ImageSet::kPixels,
                s.pixels.begin() + j * ImageSet::kPixels);
    s.labels.push_back(ood ? -1 : src.labels[idx[j]]);
    s.source.push_back(src.source[idx[j]]);
  }
  return s;
}

std::vector<int64_t> where(const ImageSet& s, bool (*pred)(int64_t)) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < s.size(); i++)
    if (pred(s.labels[i])) v.push_back(i);
  return v;
}
bool is_id(int64_t c) { return c >= 0 && c <= 5; }
bool is_near(int64_t c) { return c >= 6 && c <= 9; }

}  // namespace

ImageSet make_noise(int64_t n, double mean, double sd, uint64_t seed, const std::string& name) {
  ImageSet s;
  s.name = name;
  s.pixels.resize((size_t)n * ImageSet::kPixels);
  Rng rng(seed);
  for (auto& p : s.pixels) p = (uint8_t)std::lround(std::clamp(mean + sd * rng.normal(), 0.0, 255.0));
  s.labels.assign((size_t)n, -1);
  for (int64_t i = 0; i < n; i++) s.source.push_back(i);
  return s;
}

DemoData build_demo_data(const DataPaths& paths, const DemoSizes& z, uint64_t seed) {
  ImageSet train_all = load_fashion_split(paths.fashion_dir, "train");
  ImageSet test_all = load_fashion_split(paths.fashion_dir, "t10k");
  // Independent streams per split, so changing one size leaves the other splits unchanged.
  auto sub_seed = [seed](uint64_t k) { return Rng(seed * 0x9e3779b97f4a7c15ULL + k).next_u64(); };

  DemoData d;
  // ID val is carved out of the training split first; the training pool is what remains.
  std::vector<int64_t> id_idx = where(train_all, is_id);
  std::vector<int64_t> val_idx = stratified_subset(id_idx, train_all.labels, z.id_val, sub_seed(1));
  std::vector<char> held(train_all.size(), 0);
  for (int64_t i : val_idx) held[i] = 1;
  std::vector<int64_t> pool;
  for (int64_t i : id_idx)
    if (!held[i]) pool.push_back(i);
  std::vector<int64_t> tr_idx = stratified_subset(pool, train_all.labels, z.train, sub_seed(2));
  std::vector<int64_t> fit_idx = stratified_subset(tr_idx, train_all.labels, z.id_fit, sub_seed(3));
  d.id_val = take(train_all, val_idx, "fashion_val", false);
  d.train = take(train_all, tr_idx, "fashion_train", false);
  d.id_fit = take(train_all, fit_idx, "fashion_train_fit", false);

  std::vector<int64_t> te_idx = stratified_subset(where(test_all, is_id), test_all.labels, z.id_test, sub_seed(4));
  std::vector<int64_t> nr_idx = stratified_subset(where(test_all, is_near), test_all.labels, z.near, sub_seed(5));
  d.id_test = take(test_all, te_idx, "fashion_0-5", false);
  d.near = take(test_all, nr_idx, "fashion_6-9", true);

  FaceSplit faces = choose_faces(paths.font_dir);
  d.letter_faces = faces.test_faces;
  d.val_face = faces.val_face;
  d.letters = render_letters(faces.test_faces, z.letters, sub_seed(6), "letters");
  d.ood_val = render_letters({faces.val_face}, z.ood_val, sub_seed(7), "letters_val");

  ImageSet digits = load_mnist_digits(paths.mnist_dir);
  std::vector<int64_t> all_digits(digits.size());
  for (int64_t i = 0; i < digits.size(); i++) all_digits[i] = i;
  d.mnist = take(digits, stratified_subset(all_digits, digits.labels, z.mnist, sub_seed(9)), "mnist", true);

  double sum = 0, sq = 0;
  for (uint8_t p : d.train.pixels) {
    sum += p / 255.0;
    sq += (p / 255.0) * (p / 255.0);
  }
  const double n = std::max<double>(1, (double)d.train.pixels.size());
  d.mean = (float)(sum / n);
  d.stdv = (float)std::sqrt(std::max(1e-12, sq / n - (sum / n) * (sum / n)));
  // Noise with the ID pixel statistics, so its mean brightness alone does not give it away.
  d.noise = make_noise(z.noise, 255.0 * d.mean, 255.0 * d.stdv, sub_seed(8), "noise");
  return d;
}

}  // namespace ish::demo
