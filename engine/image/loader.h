// Batch loader: a thread pool decodes and transforms images into NHWC batches (float normalised, or
// uint8 for normalisation on the device), with bounded prefetch.
//  - Batches come out in list order and their contents do not depend on the thread count: batch b
//    holds the samples order[b*B .. b*B+B) minus those that failed, in order.
//  - A file that fails (missing, corrupt, truncated, over the pixel cap) is skipped with a warning
//    on stderr and counted; with `strict`, next() throws its ish::Error instead.
//  - Training randomness: sample i of epoch e draws from Rng(sample_seed(seed, e, i)), so it is
//    reproducible whatever the thread count and order.
//  - Batch memory comes from a HostAllocator, so a CUDA build can hand in a pinned allocator.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/image/image.h"
#include "engine/image/imglist.h"
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
  int prefetch = 2;  // batches decoded ahead of the one the caller holds
  PixelFormat format = PixelFormat::F32;
  bool train = false;            // false: Resize(resize)+CenterCrop(crop); true: RandomResizedCrop(crop)+flip
  int resize = 256, crop = 224;  // crop is the output side in both modes
  RrcParams rrc;
  bool flip = true;
  uint64_t seed = 0;
  int64_t epoch = 0;
  Normalize norm;
  bool strict = false;
  bool drop_last = false;  // drop a final partial batch (by list positions)
  bool warn = true;        // one stderr line per skipped file
  DecodeOptions decode;
  HostAllocator allocator;
};

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

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);

class Loader {
 public:
  // `order`: positions into items to visit (a shuffle); empty means 0..N-1.
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
  std::unique_ptr<Impl> impl_;
};

// One image through the configured transform into dst (crop*crop*3 bytes or floats); throws on failure.
// `scratch` holds the decoded image between calls. This is what each loader worker runs.
void load_one(const std::string& path, int64_t index, const LoaderOptions& opt, const NormLut& lut, Image& scratch,
              std::vector<uint8_t>& u8buf, void* dst);

}  // namespace ish::img
