// libFuzzer target: the OpenOOD image-list parser on arbitrary text. It must accept or throw
// ish::Error (exit 2); an accepted list must hold what the format promises.
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "engine/image/imglist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ish::img;
  const std::string text((const char*)data, size);
  const std::string root = size % 2 ? "/data/root" : "";
  ImgList L;
  try {
    L = parse_imglist(text, "fuzz.txt", root);
  } catch (const ish::Error& e) {
    if (e.code != 2) __builtin_trap();
    return 0;
  }
  if (L.items.empty()) __builtin_trap();
  int prev = 0;
  for (size_t i = 0; i < L.items.size(); i++) {
    const ListItem& it = L.items[i];
    if (it.rel.empty() || it.rel.find(' ') != std::string::npos || it.rel.find('\n') != std::string::npos)
      __builtin_trap();
    if (it.label < -1 || it.line <= prev) __builtin_trap();
    if (it.path != join_path(root, it.rel)) __builtin_trap();
    if (L.where(i) != "fuzz.txt:" + std::to_string(it.line)) __builtin_trap();
    prev = it.line;
  }
  return 0;
}
