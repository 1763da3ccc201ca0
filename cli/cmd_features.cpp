// ishscale features: run a ResNet over an image list and cache logits, pooled features and labels.
#include <cstdio>
#include <cstring>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "eval/features.h"
#include "eval/npy.h"
#include "models/state_dict.h"

namespace ish::cli {
namespace {
void usage() {
  std::printf(
      "usage: ishscale features --weights W --list LIST [--arch resnet50] [--data-root DIR] [--cache-dir DIR]\n"
      "                         [--recompute] [--dump DIR] [--batch-size N] [--device cpu|cuda] [--threads N] [--strict]\n"
      "  Runs the model over LIST (OpenOOD format; LIST relative to the working directory, the image paths inside\n"
      "  it relative to --data-root, default ./data) with the eval preprocessing and caches logits, features and\n"
      "  labels in --cache-dir (default ./feature_cache), keyed by the\n"
      "  weights' content hash, the architecture and the list's content. A cached entry is reused unless --recompute.\n"
      "  --dump DIR also writes DIR/{logits,features,labels}.npy. --threads N: the cores it may use, compute and decode together (0: all).\n"
      "  Progress goes to stderr: a bar on a terminal, else a line every 5 s (ISHSCALE_PROGRESS=S|off).\n");
}
}  // namespace

int cmd_features(int argc, char** argv) {
  for (int i = 0; i < argc; i++)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) { usage(); return 0; }
  Args args(argc, argv, {"--recompute", "--strict"});
  args.alias("--ckpt-path", "--weights");
  const std::string weights_path = args.get("--weights"), list_path = args.get("--list");
  const std::string arch = args.get("--arch", "resnet50"), root = args.get("--data-root", "./data");
  const std::string dump = args.get("--dump");
  const std::string device = args.get("--device", dev::cuda_available() ? "cuda" : "cpu");
  eval::ExtractOptions eo;
  eo.cache_dir = args.get("--cache-dir", "./feature_cache");
  eo.recompute = args.flag("--recompute");
  eo.strict = args.flag("--strict");
  const long long batch = args.get_int("--batch-size", 200), threads = args.get_int("--threads", 0);
  args.finish();
  ISH_CHECK(!weights_path.empty(), "features: --weights is required (see --help)");
  ISH_CHECK(!list_path.empty(), "features: --list is required (see --help)");
  ISH_CHECK(batch >= 1 && batch <= 4096, "features: --batch-size must be in [1, 4096], got ", batch);
  ISH_CHECK(threads >= 0 && threads <= 256, "features: --threads must be in [0, 256], got ", threads);
  ish::set_threads((int)threads);  // compute and decode together (engine/threads.h)
  ISH_CHECK(device == "cpu" || device == "cuda", "features: --device must be cpu or cuda, got '", device, "'");
  const Device dev = device == "cuda" ? Device::CUDA : Device::CPU;
  if (dev == Device::CUDA) ISH_CHECK(dev::cuda_available(), "features: --device cuda: ", dev::cuda_unavailable_reason());
  eo.batch_size = (int)batch;
  eo.threads = (int)threads;
  eo.transform = img::Transform::eval_default(arch);
  img::ImgList list = img::read_imglist(list_path, root);
  models::ResNet model = models::load_model(arch, weights_path, dev);
  eo.weights_key = eval::file_hash(weights_path);
  eo.label = list_path;
  eval::Extracted e = eval::extract_features(model, list, eo);
  std::printf("features: %lld samples [%lld features, %lld logits], %lld files skipped, %s %s\n", (long long)e.f.size(),
              (long long)e.f.features.size(1), (long long)e.f.logits.size(1), (long long)e.skipped,
              e.from_cache ? "reused" : "cached in", e.cache_file.c_str());
  if (!dump.empty()) {
    eval::write_npy(dump + "/logits.npy", e.f.logits);
    eval::write_npy(dump + "/features.npy", e.f.features);
    eval::write_npy(dump + "/labels.npy", e.f.labels);
  }
  return 0;
}

}  // namespace ish::cli
