// ishscale features: run a model (ResNet, ViT, Swin) over an image list and cache logits, features and labels.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "eval/features.h"
#include "eval/npy.h"

namespace ish::cli {
namespace {
void usage() {
  std::printf(
      "usage: ishscale features --weights W --list LIST [--data-root DIR] [--cache-dir DIR] [--recompute] [--dump DIR]\n"
      "                         [--batch-size N] [--device cpu|cuda] [--threads N] [--strict] [model flags]\n"
      "  Runs the model over LIST (OpenOOD format; LIST relative to the working directory, the image paths inside\n"
      "  it relative to --data-root, default ./data) with the eval preprocessing at the model's input size and\n"
      "  caches logits, features and labels in --cache-dir (default ./feature_cache), keyed by the weights'\n"
      "  content hash, the architecture, the list's content and the preprocessing (image size, resize,\n"
      "  interpolation) and --max-image-mb (when not the default). A cached entry is reused unless --recompute.\n"
      "  --dump DIR also writes DIR/{logits,features,labels}.npy and DIR/meta.json (the device and --tf32 setting).\n"
      "  --threads N: the cores it may use, compute and decode together (0: all). --strict: abort on a corrupt\n"
      "  image instead of skipping and counting it.\n"
      "  The cache entry's metadata records the device and the --tf32 setting; on cuda, TF32 results are cached apart.\n"
      "  Progress goes to stderr: a bar on a terminal, else a line every 5 s (ISHSCALE_PROGRESS=S|off).\n"
      "model flags:\n%s",
      model_flags_help(2).c_str());
  std::fputs(kTf32Help, stdout);
}
}  // namespace

int cmd_features(int argc, char** argv) {
  if (wants_help(argc, argv)) { usage(); return 0; }
  Args args(argc, argv, {"--recompute", "--strict"});
  const ModelFlags mf = parse_model_flags(args);
  const std::string list_path = args.get("--list");
  const std::string root = args.get("--data-root", "./data");
  const std::string dump = args.get("--dump");
  const std::string device = args.get("--device", dev::cuda_available() ? "cuda" : "cpu");
  eval::ExtractOptions eo;
  eo.cache_dir = args.get("--cache-dir", "./feature_cache");
  eo.recompute = args.flag("--recompute");
  eo.strict = args.flag("--strict");
  const long long batch = args.get_int("--batch-size", 200), threads = args.get_int("--threads", 0);
  const std::string tf32 = tf32_flag(args);
  args.finish();
  ISH_CHECK(!mf.weights.empty(), "--weights is required (see --help)");
  ISH_CHECK(!list_path.empty(), "--list is required (see --help)");
  ISH_CHECK(batch >= 1 && batch <= 4096, "--batch-size must be in [1, 4096], got ", batch);
  ISH_CHECK(threads >= 0 && threads <= 256, "--threads must be in [0, 256], got ", threads);
  ish::set_threads((int)threads);  // compute and decode together (engine/threads.h)
  const Device dev = parse_device(device);
  if (!dump.empty()) check_writable_dir(dump, "--dump");
  eo.batch_size = (int)batch;
  eo.threads = (int)threads;
  eo.decode = mf.decode;
  img::ImgList list = img::read_imglist(list_path, root);
  LoadedModel lm = load_model(mf, dev, /*hash_weights=*/true);
  eo.transform = lm.transform;
  eo.weights_key = lm.weights_hash;
  eo.label = list_path;
  eval::Extracted e = eval::extract_features(*lm.model, list, eo);
  std::printf("features: %lld samples [%lld features, %lld logits], %lld files skipped, %s %s\n", (long long)e.f.size(),
              (long long)e.f.features.size(1), (long long)e.f.logits.size(1), (long long)e.skipped,
              e.from_cache ? "reused" : "cached in", e.cache_file.c_str());
  if (!dump.empty()) {
    eval::write_npy(dump + "/logits.npy", e.f.logits);
    eval::write_npy(dump + "/features.npy", e.f.features);
    eval::write_npy(dump + "/labels.npy", e.f.labels);
    write_dump_meta(dump, device, tf32);
  }
  return 0;
}

}  // namespace ish::cli
