// The batch loader, for every consumer (eval, features, classify, train, ODIN): a thread pool reads
// samples from an img::Source, runs the img::Transform (eval or train) and writes NHWC batches (float
// normalised on the host, or uint8 for normalisation on the device), with bounded prefetch.
//  - Batches come out in list order and their contents do not depend on the thread count: batch b
//    holds the samples order[b*B .. b*B+B) minus those that failed, in order.
//  - A file that fails (missing, corrupt, truncated, over the pixel cap) is skipped with a warning
//    on stderr and counted; with `strict`, next() throws its ish::Error instead.
//  - Training randomness: sample i of epoch e draws from Rng(sample_seed(seed, e, i)), so it is
//    reproducible whatever the thread count, the order and the batch a sample lands in.
//  - Batch memory comes from a HostAllocator, so a CUDA build can hand in a pinned allocator.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/image/image.h"
#include "engine/image/imglist.h"
#include "engine/image/source.h"
#include "engine/image/transform.h"

namespace ish::img {

enum class PixelFormat { F32, U8 };

struct HostAllocator {
  std::function<void*(size_t)> alloc;  // default (empty): 64-byte aligned host memory
  std::function<void(void*)> free;
};

struct LoaderOptions {
  int batch_size = 64;
  int threads = 1;   // worker threads; 0 decodes on the caller's thread inside next()
  int prefetch = 2;  // batches decoded ahead of the one the caller holds; 0: only inside next()
  PixelFormat format = PixelFormat::F32;
  Transform transform;  // every preprocessing number
  bool train = false;   // false: the eval transform; true: RandomResizedCrop + flip
  uint64_t seed = 0;
  int64_t epoch = 0;
  bool strict = false;
  bool drop_last = false;  // drop a final partial batch (by list positions)
  bool warn = true;        // one stderr line per skipped file
  DecodeOptions decode;    // for the ImgList constructor
  HostAllocator allocator;
};

// `--threads N` (0: every core) is the cores a command may use, compute and decode together. With the
// model on the host the loader decodes only while the caller waits in next() (prefetch 0), so decode
// and compute take turns on the same N cores; with the model on a device it decodes ahead.
void set_threads(LoaderOptions& o, int threads, bool compute_on_host);
int resolve_threads(int threads);  // 0 -> the hardware's core count

struct Batch {
  int64_t number = 0;  // batch index within the pass
  int n = 0;           // images held (fewer than batch_size after skips or at the end)
  int h = 0, w = 0, c = 3;
  PixelFormat format = PixelFormat::F32;
  void* data = nullptr;          // n*h*w*c values, NHWC
  std::vector<int64_t> labels;   // per image
  std::vector<int64_t> indices;  // per image: position in the item list
  std::vector<std::string> skipped;  // messages for the files skipped in this batch
  const float* f32() const { return static_cast<const float*>(data); }
  const uint8_t* u8() const { return static_cast<const uint8_t*>(data); }
};

// The one seed mixer (splitmix64 finaliser) of the data path: per-sample augmentation seeds and the
// per-epoch shuffle both come from it.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);
// Per-epoch sample order: a Fisher-Yates shuffle seeded by (seed, epoch), or 0..n-1.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

class Loader {
 public:
  // `order`: positions into the source to visit (a shuffle); empty means 0..N-1. The source must
  // outlive the loader; the ImgList form holds its own ListSource.
  Loader(const Source& src, LoaderOptions opt, std::vector<int64_t> order = {});
  Loader(const ImgList& list, LoaderOptions opt, std::vector<int64_t> order = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  // The next batch in order, or nullptr at the end. Valid until the next call (its memory is then reused).
  const Batch* next();
  int64_t num_batches() const;
  int64_t skipped() const;  // files skipped in the batches returned so far
  int64_t loaded() const;   // images delivered so far
  struct Impl;

 private:
  void start();
  std::unique_ptr<Impl> impl_;
};

// A decoded image through transform t (the training one when `aug`, drawing from it) into dst as
// normalised floats (F32) or packed bytes (U8). The one place the transform steps are put together.
void transform_one(const Image& im, const Transform& t, Rng* aug, PixelFormat fmt, const NormLut& lut,
                   std::vector<uint8_t>& u8buf, void* dst);
// Sample `index` of src through the configured transform into dst (crop*crop*channels bytes or floats);
// throws on failure. `scratch`/`u8buf` are reused between calls. This is what each loader worker runs.
void load_one(const Source& src, int64_t index, const LoaderOptions& opt, const NormLut& lut, Image& scratch,
              std::vector<uint8_t>& u8buf, void* dst);

}  // namespace ish::img
