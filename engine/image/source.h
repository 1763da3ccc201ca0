// Where the loader's samples come from: sample i as decoded 8-bit RGB pixels plus its label.
//  - ListSource: an OpenOOD image list; decoding is PIL-exact (engine/image/image.h).
//  - MemorySource: images held in memory, uint8 [N,H,W,C] with C = 1 (gray, expanded to R = G = B,
//    which PIL's 8-bit resampling treats exactly as an 'L' image) or 3.
// read() throws ish::Error on a sample it cannot produce; the loader skips and counts it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/image/image.h"
#include "engine/image/imglist.h"

namespace ish::img {

class Source {
 public:
  virtual ~Source() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t i) const = 0;
  virtual void read(int64_t i, Image& out) const = 0;  // out's buffer is reused
  virtual std::string where(int64_t i) const = 0;      // names sample i in messages
  virtual std::string describe() const = 0;
};

class ListSource : public Source {
 public:
  explicit ListSource(ImgList list, DecodeOptions decode = {}) : list_(std::move(list)), decode_(decode) {}
  int64_t size() const override { return (int64_t)list_.items.size(); }
  int64_t label(int64_t i) const override { return list_.items[i].label; }
  void read(int64_t i, Image& out) const override { decode_file(list_.items[i].path, out, decode_); }
  std::string where(int64_t i) const override { return list_.where((size_t)i); }
  std::string describe() const override { return list_.file; }
  const ImgList& list() const { return list_; }

 private:
  ImgList list_;
  DecodeOptions decode_;
};

class MemorySource : public Source {
 public:
  MemorySource(std::vector<uint8_t> pixels, std::vector<int64_t> labels, int h, int w, int c, std::string name);
  int64_t size() const override { return (int64_t)labels_.size(); }
  int64_t label(int64_t i) const override { return labels_[i]; }
  void read(int64_t i, Image& out) const override;
  std::string where(int64_t i) const override;
  std::string describe() const override { return name_; }
  int height() const { return h_; }
  int width() const { return w_; }
  int channels() const { return c_; }

 private:
  std::vector<uint8_t> px_;
  std::vector<int64_t> labels_;
  int h_, w_, c_;
  std::string name_;
};

}  // namespace ish::img
