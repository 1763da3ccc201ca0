// ishscale classify [--weights] W IMG... : top-5 (class index, probability) per image with the model's eval
// preprocessing (cli/model_flags.h) through eval's feature extraction and the image loader. Unreadable
// images get one line each on stderr and the others are still classified (exit 3 when any failed, 2
// when none could be read). --labels names the classes; --dump DIR writes logits.npy [N,classes],
// features.npy [N,feature_dim] (float32) and paths.txt (the image of each row), for the readable images
// in argument order, and meta.json (device, tf32).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "engine/error.h"
#include "engine/image/loader.h"
#include "engine/threads.h"
#include "eval/features.h"
#include "eval/npy.h"
#include "util/fs.h"

namespace ish::cli {

namespace {
constexpr int kTopK = 5;

void usage() {
  std::printf(
      "usage: ishscale classify --weights W IMG... [--labels FILE] [--dump DIR] [--device cpu|cuda] [--batch-size N]\n"
      "                         [--threads N] [--arch A] [--width W] [--image-size S] [--resize R]\n"
      "                         [--interpolation bilinear|bicubic] [--max-image-mb N] [--tf32 on|off|all]\n"
      "  Prints the top-5 (class index, probability) of each image with a ResNet, ViT or Swin. Preprocessing as\n"
      "  torchvision eval with the weights' own transform: PIL-exact decode, resize and centre crop at the model's\n"
      "  input size. ResNets and ViTs: %s;\n"
      "  swin_t: %s.\n"
      "  An unreadable image gets one line on stderr and the others are classified: exit 3 (2 when none was read).\n"
      "%s"
      "  --labels FILE  class names, one a line (as many as the model has classes), printed after each index;\n"
      "                 tools/imagenet_labels.py writes ImageNet-1k's\n"
      "  --dump DIR     write DIR/logits.npy [N,classes], DIR/features.npy [N,features] (float32) and\n"
      "                 DIR/paths.txt (the image of each row; unreadable images have no row) and DIR/meta.json\n"
      "                 (the device and --tf32 setting used)\n"
      "  --device       cpu (default) or cuda\n"
      "  --batch-size   images per forward (default 16)\n"
      "  --threads      the cores it may use, compute and decode together (default 0: all)\n",
      img::Transform::eval_default("resnet50").describe_eval().c_str(),
      img::Transform::eval_default("swin_t").describe_eval().c_str(), model_flags_help(2).c_str());
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

// One class name a line (a trailing newline, CRs and trailing blank lines are fine; a blank name is not).
std::vector<std::string> read_labels(const std::string& path) {
  std::ifstream f(path);
  ISH_CHECK(f.good(), "--labels ", path, ": cannot open");
  std::vector<std::string> names;
  std::string line;
  int blank_at = 0, n = 0;
  while (std::getline(f, line)) {
    n++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (!blank_at) blank_at = n;
      continue;
    }
    ISH_CHECK(!blank_at, "--labels ", path, ":", blank_at, ": blank line (one class name a line)");
    names.push_back(line);
  }
  ISH_CHECK(!names.empty(), "--labels ", path, ": no class names");
  return names;
}
}  // namespace

int cmd_classify(int argc, char** argv) {
  if (wants_help(argc, argv)) { usage(); return 0; }
  Args args(argc, argv);
  const ModelFlags mf = parse_model_flags(args);
  const std::string dump = args.get("--dump"), labels_path = args.get("--labels");
  const std::string device = args.get("--device", "cpu");
  const long long batch = args.get_int("--batch-size", 16), threads = args.get_int("--threads", 0);
  const std::string tf32 = tf32_flag(args);
  args.finish();
  const std::vector<std::string>& images = args.positional();
  ISH_CHECK(!mf.weights.empty(), "--weights is required (see --help)");
  ISH_CHECK(!images.empty(), "no images given (see --help)");
  ISH_CHECK(batch >= 1 && batch <= 4096, "--batch-size must be in [1, 4096], got ", batch);
  ISH_CHECK(threads >= 0 && threads <= 256, "--threads must be in [0, 256], got ", threads);
  const Device dev = parse_device(device);
  ish::set_threads((int)threads);  // compute and decode together (engine/threads.h)
  std::vector<std::string> names;
  if (!labels_path.empty()) names = read_labels(labels_path);
  if (!dump.empty()) check_writable_dir(dump, "--dump");

  LoadedModel lm = load_model(mf, dev);
  const int C = lm.model->num_classes(), F = lm.model->feature_dim();
  ISH_CHECK(names.empty() || (int)names.size() == C, "--labels ", labels_path, ": ", names.size(),
            " names but the model has ", C, " classes");

  // The images as an unlabelled list, through the loader; an unreadable one is reported and left out.
  img::ImgList list;
  list.file = "classify";
  for (size_t i = 0; i < images.size(); i++) list.items.push_back({images[i], images[i], -1, (int)i + 1});
  eval::ExtractOptions eo;
  eo.batch_size = (int)batch;
  eo.threads = (int)threads;
  eo.transform = lm.transform;
  eo.decode = mf.decode;
  img::LoaderOptions lo = eval::extract_loader_options(eo, dev);
  lo.warn = false;
  img::Loader loader(list, lo);
  std::vector<int64_t> rows;  // image index of each output row
  int64_t failed = 0;
  auto on_batch = [&](const img::Batch& b) {
    rows.insert(rows.end(), b.indices.begin(), b.indices.end());
    for (auto& msg : b.skipped) std::fprintf(stderr, "ishscale classify: error: %s\n", msg.c_str());
    failed += (int64_t)b.skipped.size();
  };
  const eval::FeatureSet f =
      eval::extract(*lm.model, eval::loader_batches(loader, eo.transform, dev, on_batch), (int64_t)images.size());
  const int64_t N = f.size();
  ISH_ASSERT(N == (int64_t)rows.size() && N + failed == (int64_t)images.size());
  const float* logits = N ? f.logits.data<float>() : nullptr;
  for (int64_t i = 0; i < N; i++) {
    std::printf("%s\n", images[rows[i]].c_str());
    int r = 1;
    for (auto& [cls, p] : topk_probs(logits + i * C, C, kTopK))
      std::printf("  %d. class %4d  p=%.6g%s%s\n", r++, cls, p, names.empty() ? "" : "  ",
                  names.empty() ? "" : names[cls].c_str());
  }
  std::fflush(stdout);
  if (!dump.empty() && N > 0) {
    eval::write_npy(dump + "/logits.npy", f.logits);
    eval::write_npy(dump + "/features.npy", f.features);
    std::string paths;
    for (int64_t r : rows) paths += images[r] + "\n";
    util::atomic_write(dump + "/paths.txt", paths);
    write_dump_meta(dump, device, tf32);
    std::fprintf(stderr, "classify: wrote %s/logits.npy [%lld,%d], features.npy [%lld,%d], paths.txt and meta.json\n",
                 dump.c_str(), (long long)N, C, (long long)N, F);
  }
  if (failed == 0) return 0;
  return N == 0 ? 2 : 3;  // none read: an error; some: partial
}

}  // namespace ish::cli
