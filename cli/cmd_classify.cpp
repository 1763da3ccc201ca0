// ishscale classify --weights W --arch A IMG... : top-5 (class index, probability) per image with the
// eval transform (img::Transform::eval_default) through eval's feature extraction and the image loader.
// --dump DIR writes logits.npy [N,classes] and features.npy [N,feature_dim] (float32, argument order).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/device.h"
#include "engine/image/loader.h"
#include "engine/threads.h"
#include "eval/features.h"
#include "eval/npy.h"
#include "models/resnet.h"
#include "models/state_dict.h"

namespace ish::cli {

namespace {
constexpr int kTopK = 5;

void usage() {
  std::printf(
      "usage: ishscale classify --weights W --arch ARCH IMG... [--dump DIR] [--device cpu|cuda] [--batch-size N]\n"
      "                         [--threads N]\n"
      "  Prints the top-5 (class index, probability) of each image. Preprocessing as torchvision eval:\n"
      "  PIL-exact decode, %s.\n"
      "  --weights     safetensors or PyTorch .pth (zip or legacy), torchvision names (alias --ckpt-path)\n"
      "  --arch        resnet18|resnet34|resnet50|resnet101|resnet152 (default resnet50)\n"
      "  --dump DIR    write DIR/logits.npy [N,classes] and DIR/features.npy [N,features], float32\n"
      "  --device      cpu (default) or cuda\n"
      "  --batch-size  images per forward (default 16)\n"
      "  --threads     the cores it may use, compute and decode together (default 0: all)\n",
      img::Transform::eval_default("resnet50").describe_eval().c_str());
  std::fputs(kTf32Help, stdout);
}

// Top-k of softmax(logits) for one row, computed in double; ties keep the lower index.
std::vector<std::pair<int, double>> topk_probs(const float* z, int n, int k) {
  double mx = -INFINITY;
  for (int i = 0; i < n; i++) mx = std::max(mx, (double)z[i]);
  std::vector<double> p(n);
  double s = 0;
  for (int i = 0; i < n; i++) s += (p[i] = std::exp((double)z[i] - mx));
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  std::vector<std::pair<int, double>> r;
  for (int i = 0; i < k; i++) r.emplace_back(idx[i], p[idx[i]] / s);
  return r;
}
}  // namespace

int cmd_classify(int argc, char** argv) {
  for (int i = 0; i < argc; i++)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) { usage(); return 0; }
  Args args(argc, argv);
  args.alias("--ckpt-path", "--weights");
  const std::string weights_path = args.get("--weights");
  const std::string arch = args.get("--arch", "resnet50");
  const std::string dump = args.get("--dump");
  const std::string device = args.get("--device", "cpu");
  const long long batch = args.get_int("--batch-size", 16), threads = args.get_int("--threads", 0);
  tf32_flag(args);
  args.finish();
  const std::vector<std::string>& images = args.positional();
  ISH_CHECK(!weights_path.empty(), "classify: --weights is required (see --help)");
  ISH_CHECK(!images.empty(), "classify: no images given (see --help)");
  ISH_CHECK(device == "cpu" || device == "cuda", "classify: --device must be cpu or cuda, got '", device, "'");
  ISH_CHECK(batch >= 1 && batch <= 4096, "classify: --batch-size must be in [1, 4096], got ", batch);
  ISH_CHECK(threads >= 0 && threads <= 256, "classify: --threads must be in [0, 256], got ", threads);
  ish::set_threads((int)threads);  // compute and decode together (engine/threads.h)
  const Device dev = device == "cuda" ? Device::CUDA : Device::CPU;
  if (dev == Device::CUDA) ISH_CHECK(dev::cuda_available(), "classify: --device cuda: ", dev::cuda_unavailable_reason());

  // The class count comes from the checkpoint's fc, so fine-tuned heads load too.
  ISH_CHECK(!models::config_for(arch).cifar_stem, "classify: ", arch,
            " expects small inputs; classify uses ImageNet 224x224 preprocessing");
  models::ResNet model = models::load_model(arch, weights_path, dev);

  // The images as an unlabelled list, through the loader; an unreadable image is an error here.
  img::ImgList list;
  list.file = "classify";
  for (size_t i = 0; i < images.size(); i++) list.items.push_back({images[i], images[i], -1, (int)i + 1});
  eval::ExtractOptions eo;
  eo.batch_size = (int)batch;
  eo.threads = (int)threads;
  eo.transform = img::Transform::eval_default(arch);
  img::LoaderOptions lo = eval::extract_loader_options(eo, dev);
  lo.warn = false;
  img::Loader loader(list, lo);
  auto no_skips = [](const img::Batch& b) {
    if (!b.skipped.empty()) fail(b.skipped.front());
  };
  const eval::FeatureSet f =
      eval::extract(model, eval::loader_batches(loader, eo.transform, dev, no_skips), (int64_t)images.size());
  const int C = model.num_classes(), F = model.feature_dim();
  const int64_t N = f.size();
  ISH_ASSERT(N == (int64_t)images.size());
  const float* logits = f.logits.data<float>();
  for (int64_t i = 0; i < N; i++) {
    std::printf("%s\n", images[i].c_str());
    int r = 1;
    for (auto& [cls, p] : topk_probs(logits + i * C, C, kTopK))
      std::printf("  %d. class %4d  p=%.6g\n", r++, cls, p);
  }
  if (!dump.empty()) {
    eval::make_dirs(dump);
    eval::write_npy(dump + "/logits.npy", f.logits);
    eval::write_npy(dump + "/features.npy", f.features);
    std::fprintf(stderr, "classify: wrote %s/logits.npy [%lld,%d] and features.npy [%lld,%d]\n", dump.c_str(),
                 (long long)N, C, (long long)N, F);
  }
  return 0;
}

}  // namespace ish::cli
