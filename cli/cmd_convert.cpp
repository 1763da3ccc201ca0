// ishscale convert IN OUT.safetensors: a PyTorch checkpoint (.pth zip or legacy format, read without
// Python) or a safetensors file, written as safetensors with the tensors as stored (dtype, shape,
// torchvision names, num_batches_tracked included). A wrapping dict and a "module." prefix are removed.
#include <cstdio>
#include <cstring>

#include "cli/args.h"
#include "cli/commands.h"
#include "weights/load.h"
#include "weights/safetensors.h"

namespace ish::cli {

int cmd_convert(int argc, char** argv) {
  if (argc >= 1 && (!std::strcmp(argv[0], "--help") || !std::strcmp(argv[0], "-h"))) {
    std::printf("usage: ishscale convert IN.pth OUT.safetensors\n  Converts a PyTorch checkpoint (zip or legacy "
                "format; no Python needed) to safetensors.\n  A {\"state_dict\": ...} wrapper and a 'module.' "
                "prefix are removed; tensors are written as stored.\n");
    return 0;
  }
  Args args(argc, argv);
  args.finish();
  ISH_CHECK(args.positional().size() == 2, "usage: ishscale convert IN OUT.safetensors (got ",
            args.positional().size(), " paths)");
  const std::string in = args.positional()[0], out = args.positional()[1];
  weights::Format fmt = weights::detect_format(in);
  std::map<std::string, std::string> meta;
  weights::StateDict sd = weights::load_any(in, &meta);
  if (!meta.count("format")) meta["format"] = "pt";  // what safetensors' torch helpers write
  st::save(out, sd, meta);
  uint64_t bytes = 0;
  for (auto& kv : sd) bytes += kv.second.nbytes();
  std::printf("wrote %s: %zu tensors, %.1f MB (from %s, %s)\n", out.c_str(), sd.size(), bytes / 1e6, in.c_str(),
              weights::format_name(fmt));
  return 0;
}

}  // namespace ish::cli
