// libFuzzer target: the safetensors reader on arbitrary bytes. It must accept or throw ish::Error;
// anything else (a crash, a sanitizer report, another exception, a leak) is a bug.
#include <cstdint>
#include <cstring>
#include <string>

#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ish::st::File f = ish::st::File::from_bytes("fuzz", std::string((const char*)data, size));
    for (auto& t : f.tensors()) {
      ish::Tensor x = f.load(t.name);
      if (x.nbytes() != t.end - t.begin) __builtin_trap();
    }
    // Whatever was accepted must survive a write/read round trip unchanged.
    std::vector<std::pair<std::string, ish::Tensor>> all;
    for (auto& t : f.tensors()) all.emplace_back(t.name, f.load(t.name));
    ish::st::File g = ish::st::File::from_bytes("fuzz-roundtrip", ish::st::serialize(all, f.metadata()));
    if (g.tensors().size() != f.tensors().size() || g.metadata() != f.metadata()) __builtin_trap();
    for (auto& t : f.tensors())
      if (std::memcmp(g.bytes(t.name), f.bytes(t.name), t.end - t.begin) != 0) __builtin_trap();
  } catch (const ish::Error&) {
  }
  return 0;
}
