// The 128-bit content hash behind the feature cache keys and results.json's weights_hash: two FNV-1a style
// 64-bit lanes over the bytes, printed as 32 hex digits. Changing it invalidates every cached entry.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ish::util {

struct ContentHash {
  uint64_t a = 1469598103934665603ULL, b = 0x84222325cbf29ce4ULL;
  void add(const void* p, size_t n) {
    const unsigned char* c = (const unsigned char*)p;
    for (size_t i = 0; i < n; i++) {
      a = (a ^ c[i]) * 1099511628211ULL;
      b = (b ^ c[i]) * 0x100000001b3ULL ^ (b >> 29);
    }
  }
  void add(const std::string& s) { add(s.data(), s.size() + 1); }  // include the terminator as a separator
  std::string hex() const {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
    return buf;
  }
};

}  // namespace ish::util
