// The JSON-indexed binary weights format (safetensors-compatible):
//   [u64 little-endian N][N bytes of JSON header][raw buffer]
// header: {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {str: str}}
// Reader rules: header <= 100 MB; offsets contiguous from 0 with no gap or overlap and covering the
// whole buffer; end-begin == numel*itemsize; no duplicate keys; metadata string->string.
// Every error names the file and, where there is one, the tensor.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ish::st {

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the buffer
};

class File {
 public:
  // Opens and validates (mmap). Throws ish::Error (exit 2) naming the file and tensor.
  static File open(const std::string& path);
  // Validates an in-memory copy (fuzzing, tests); `name` stands for the path in messages.
  static File from_bytes(const std::string& name, std::string bytes);
  const std::string& path() const;
  // util::ContentHash of the whole file as mapped (the weights hash of eval), without reading it again.
  std::string content_hash() const;
  const std::vector<TensorInfo>& tensors() const;  // in the order of their data in the file
  const std::map<std::string, std::string>& metadata() const;
  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws if absent
  const void* bytes(const std::string& name) const;       // raw pointer into the mapping
  Tensor load(const std::string& name) const;              // a CPU copy, dtype as stored
  std::map<std::string, Tensor> load_all() const;
  struct Impl;
 private:
  std::shared_ptr<Impl> impl_;
};

// Serialises to bytes: tensors sorted by descending alignment then name, header padded with
// spaces to a multiple of 8. Tensors may live on any device.
std::string serialize(const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Writes atomically: PATH.tmp, fsync, rename, fsync of the directory.
void save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata = {});

}  // namespace ish::st
