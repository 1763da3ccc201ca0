#include "weights/load.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <set>

#include "weights/pth.h"
#include "weights/safetensors.h"
#include "weights/text.h"

namespace ish::weights {

const char* format_name(Format f) {
  switch (f) {
    case Format::Safetensors: return "safetensors";
    case Format::PthZip: return "pth (zip)";
    case Format::PthLegacy: return "pth (legacy)";
  }
  return "?";
}

Format detect_format(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  ISH_CHECK(fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
  unsigned char b[9] = {0};
  ssize_t n = ::read(fd, b, sizeof b);
  ::close(fd);
  ISH_CHECK(n >= 0, path, ": cannot read (", std::strerror(errno), ")");
  // A safetensors header starts with '{' at byte 8; its length's first byte may be 0x80, like a pickle's.
  if (n == 9 && b[8] == '{') return Format::Safetensors;
  if (n >= 2 && b[0] == 'P' && b[1] == 'K') return Format::PthZip;
  if (n >= 1 && b[0] == 0x80) return Format::PthLegacy;
  if (n == 0) fail(path, ": not a safetensors or PyTorch file (empty)");
  fail(path, ": not a safetensors or PyTorch file (", n < 9 ? str("only ", n, " bytes, starting ") : std::string("starts with "),
       "'", printable(std::string((const char*)b, (size_t)std::min<ssize_t>(n, 8)), 8), "')");
}

StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata,
                          std::string* content_hash) {
  st::File f = st::File::open(path);
  if (content_hash) *content_hash = f.content_hash();
  StateDict out;
  for (auto& ti : f.tensors()) out.emplace_back(ti.name, f.load(ti.name));
  if (metadata) *metadata = f.metadata();
  return out;
}

StateDict load_any(const std::string& path, std::map<std::string, std::string>* metadata, std::string* content_hash) {
  if (metadata) metadata->clear();
  Format fmt = detect_format(path);
  if (fmt != Format::Safetensors) return load_pth(path, content_hash);
  StateDict sd = load_safetensors(path, metadata, content_hash);
  bool all_module = !sd.empty();
  for (auto& kv : sd) all_module = all_module && kv.first.compare(0, 7, "module.") == 0;
  if (all_module) {
    std::set<std::string> seen;
    for (auto& kv : sd) {
      kv.first = kv.first.substr(7);
      ISH_CHECK(seen.insert(kv.first).second, path, ": duplicate key ", qstr(kv.first), " after stripping 'module.'");
      kv.second.set_name(kv.first);
    }
  }
  return sd;
}

}  // namespace ish::weights
