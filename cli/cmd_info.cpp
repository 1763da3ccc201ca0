// ishscale info FILE: the format, every tensor (name, dtype, shape) and the metadata of a weights file
// (safetensors, or a .pth checkpoint read without Python).
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "weights/load.h"
#include "weights/safetensors.h"
#include "weights/text.h"

namespace ish::cli {

int cmd_info(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("usage: ishscale info FILE\n  Lists the tensors (name, dtype, shape) and the metadata of a safetensors\n"
                "  file or a PyTorch .pth checkpoint (zip or legacy format).\n");
    return 0;
  }
  Args args(argc, argv);
  args.finish();
  ISH_CHECK(args.positional().size() == 1, "usage: ishscale info FILE (got ", args.positional().size(), " paths)");
  const std::string path = args.positional()[0];
  weights::Format fmt = weights::detect_format(path);
  std::vector<std::tuple<std::string, DType, Shape>> rows;
  std::map<std::string, std::string> meta;
  uint64_t bytes = 0;
  if (fmt == weights::Format::Safetensors) {
    st::File f = st::File::open(path);  // validates everything; reads no tensor data
    for (auto& t : f.tensors()) {
      rows.emplace_back(t.name, t.dtype, t.shape);
      bytes += t.end - t.begin;
    }
    meta = f.metadata();
  } else {
    for (auto& [name, t] : weights::load_pth(path)) {
      rows.emplace_back(name, t.dtype(), t.shape());
      bytes += t.nbytes();
    }
  }
  size_t width = 4;
  for (auto& r : rows) width = std::max(width, std::get<0>(r).size());
  std::printf("%s: %s, %zu tensors, %.1f MB\n", path.c_str(), weights::format_name(fmt), rows.size(), bytes / 1e6);
  for (auto& [name, dt, shape] : rows)
    std::printf("  %-*s  %-4s  %s\n", (int)width, weights::printable(name, 1000).c_str(), dtype_name(dt),
                shape_str(shape).c_str());
  if (!meta.empty()) {
    std::printf("metadata:\n");
    for (auto& [k, v] : meta)
      std::printf("  %s = %s\n", weights::printable(k, 1000).c_str(), weights::printable(v, 1000).c_str());
  }
  return 0;
}

}  // namespace ish::cli
