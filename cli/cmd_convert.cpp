// ishscale convert IN OUT.safetensors: a PyTorch checkpoint (.pth zip or legacy format, read without
// Python) or a safetensors file, written as safetensors with the tensors as stored (dtype, shape,
// torchvision names, num_batches_tracked included). A wrapping dict and a "module." prefix are removed.
// The model's description (models/model_meta.h) is kept, or added where the tensors tell it unambiguously.
// --model-only drops a training checkpoint's optimizer entries (optim.*) and resume state.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "models/model_meta.h"
#include "weights/load.h"
#include "weights/safetensors.h"

namespace ish::cli {

namespace {
const char* kHelp =
    "usage: ishscale convert IN OUT.safetensors [--model-only]\n"
    "  Converts a PyTorch checkpoint (zip or legacy format; no Python needed) or a safetensors file to\n"
    "  safetensors. A {\"state_dict\": ...} wrapper and a 'module.' prefix are removed; tensors are written as\n"
    "  stored. The metadata keeps (or, where torchvision's tensor names and shapes tell it unambiguously: a\n"
    "  ResNet, vit_b_16 and the other ViTs, swin_t/s/b) gains arch, num_classes, in_channels and a ResNet's\n"
    "  width, so eval/classify/features need no --arch/--width for the result.\n"
    "  --model-only   drop a training checkpoint's optimizer entries (optim.*) and resume state\n";

bool is_optim(const std::string& k) { return k.compare(0, 6, "optim.") == 0; }
}  // namespace

int cmd_convert(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  Args args(argc, argv, {"--model-only"});
  const bool model_only = args.flag("--model-only");
  args.finish();
  ISH_CHECK(args.positional().size() == 2, "usage: ishscale convert IN OUT.safetensors [--model-only] (got ",
            args.positional().size(), " paths)");
  const std::string in = args.positional()[0], out = args.positional()[1];
  weights::Format fmt = weights::detect_format(in);
  std::map<std::string, std::string> meta;
  weights::StateDict sd = weights::load_any(in, &meta);
  size_t dropped = 0;
  if (model_only) {
    weights::StateDict kept;
    for (auto& kv : sd)
      if (is_optim(kv.first)) dropped++;
      else kept.push_back(kv);
    sd.swap(kept);
    for (const char* k : {"step_in_epoch", "epoch_seed", "rng"}) meta.erase(k);
    meta["format"] = "pt";  // no longer a resumable training checkpoint
  }
  // The model's description: the file's own, completed by what the tensors say when that is unambiguous.
  models::ModelMeta mm = models::read_model_meta(meta, in);
  models::ShapeList shapes;
  for (auto& [k, t] : sd)
    if (!is_optim(k)) shapes.emplace_back(k, t.shape());
  const models::Inferred inf = models::infer_arch(shapes);
  if (inf.archs.size() == 1 && (mm.arch.empty() || mm.arch == inf.archs[0])) {
    mm.arch = inf.archs[0];
    if (!mm.width) mm.width = inf.width;
    if (!mm.in_channels) mm.in_channels = inf.in_channels;
    if (!mm.num_classes) mm.num_classes = inf.num_classes;
  }
  models::write_model_meta(mm, meta);
  if (!meta.count("format")) meta["format"] = "pt";  // what safetensors' torch helpers write
  st::save(out, sd, meta);
  uint64_t bytes = 0;
  for (auto& kv : sd) bytes += kv.second.nbytes();
  std::printf("wrote %s: %zu tensors, %.1f MB (from %s, %s)%s%s\n", out.c_str(), sd.size(), bytes / 1e6, in.c_str(),
              weights::format_name(fmt), mm.arch.empty() ? "" : (", " + mm.arch).c_str(),
              dropped ? str(", ", dropped, " optimizer entries dropped").c_str() : "");
  return 0;
}

}  // namespace ish::cli
