// A look at each weights file's whole content as the loaders map it (safetensors and .pth alike), so a
// caller can hash the bytes it loads instead of reading the file a second time. Per thread, scoped.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace ish::weights {

using ContentFn = std::function<void(const std::string& path, const uint8_t* data, size_t size)>;

// Called by the loaders with a mapped file's bytes; a no-op without an ObserveContent.
void notify_content(const std::string& path, const uint8_t* data, size_t size);

// While alive, fn sees every file the loaders map on this thread (nested scopes: the innermost).
class ObserveContent {
 public:
  explicit ObserveContent(ContentFn fn);
  ~ObserveContent();
  ObserveContent(const ObserveContent&) = delete;
  ObserveContent& operator=(const ObserveContent&) = delete;
 private:
  friend void notify_content(const std::string& path, const uint8_t* data, size_t size);
  ContentFn fn_;
  ObserveContent* prev_;
};

}  // namespace ish::weights
