// ishscale train: CE or ISH training (train/trainer.h) on an image list, with checkpoints and resume.
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/imglist_dataset.h"
#include "train/ish.h"
#include "train/trainer.h"
#include "weights/load.h"
#include "weights/safetensors.h"

namespace ish::cli {

static const char* kHelp =
    "usage: ishscale train --train-list LIST --data-root DIR --out DIR [flags]\n"
    "Fine-tunes or trains a ResNet with cross-entropy, optionally with ISH (OpenOOD train_ish.yml defaults).\n"
    "  --train-list LIST, --val-list LIST   OpenOOD image lists ('path label'), relative to the working directory\n"
    "  --data-root DIR                      the folder the image paths inside the lists are relative to\n"
    "  --arch NAME (resnet50)               resnet18|34|50|101|152, or <arch>_cifar (3x3 stem, no max pool)\n"
    "  --weights FILE                       initial weights (.safetensors or .pth); random init without\n"
    "  --num-classes N                      default: from --weights, else the largest label + 1\n"
    "  --width W (64)                       stem width (smaller for quick experiments)\n"
    "  --image-size S (224)                 training crop / eval centre crop\n"
    "  --epochs N (10)  --batch-size N (128)  --accum N (1: micro-batches per optimizer step)\n"
    "  --lr X (0.003)  --momentum X (0.9)  --nesterov (on) / --no-nesterov\n"
    "  --wd X (5e-4)  --wd-fc X (5e-5, for fc.weight and fc.bias)   cosine LR per step down to 1e-6\n"
    "  --ish  --ish-strategy minksample_expscale|expscale|minksample_lnscale  --ish-percentile P (0.85)\n"
    "  --seed N (0)  --no-augment  --no-shuffle  --deterministic  --strict (abort on a corrupt image)\n"
    "  --out DIR                            last.safetensors, best.safetensors, summary.csv\n"
    "  --resume                             continue from OUT/last.safetensors with its stored config\n"
    "                                       (--steps, --device, --data-root, lists, logging may change)\n"
    "  --steps N                            stop once N optimizer steps are done in total\n"
    "  --log-every N (50)  --save-every N (500)  --device cpu|cuda\n"
    "  --threads N (0: all)                 the cores it may use, compute and decode together\n";

static bool file_exists(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0;
}

int cmd_train(int argc, char** argv) {
  Args a(argc, argv,
         {"--ish", "--nesterov", "--no-nesterov", "--resume", "--deterministic", "--no-augment", "--no-shuffle",
          "--strict", "--help"});
  if (a.flag("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  train::TrainConfig c;
  const bool resume = a.flag("--resume");
  const std::string out = a.get("--out");
  std::string resume_path;
  if (resume) {
    ISH_CHECK(!out.empty(), "--resume needs --out DIR (it continues from DIR/last.safetensors)");
    resume_path = out + "/last.safetensors";
    ISH_CHECK(file_exists(resume_path), "--resume: ", resume_path, " does not exist");
    c = train::config_from_json(train::read_checkpoint_meta(resume_path).config, resume_path);
    for (const char* f : {"--arch", "--weights", "--epochs", "--batch-size", "--accum", "--lr", "--momentum",
                          "--wd", "--wd-fc", "--ish-strategy", "--ish-percentile", "--seed", "--num-classes",
                          "--width", "--image-size"})
      if (a.has(f)) std::fprintf(stderr, "warning: %s ignored: --resume uses the checkpoint's config\n", f);
    for (const char* f : {"--ish", "--nesterov", "--no-nesterov", "--no-augment", "--no-shuffle", "--deterministic"})
      if (a.flag(f)) std::fprintf(stderr, "warning: %s ignored: --resume uses the checkpoint's config\n", f);
  } else {
    c.arch = a.get("--arch", c.arch);
    c.weights = a.get("--weights");
    c.epochs = a.get_int("--epochs", c.epochs);
    c.batch_size = a.get_int("--batch-size", c.batch_size);
    c.accum = a.get_int("--accum", c.accum);
    c.lr = a.get_double("--lr", c.lr);
    c.momentum = a.get_double("--momentum", c.momentum);
    bool no_nest = a.flag("--no-nesterov");
    ISH_CHECK(!(no_nest && a.flag("--nesterov")), "--nesterov and --no-nesterov contradict each other");
    c.nesterov = !no_nest;
    c.wd = a.get_double("--wd", c.wd);
    c.wd_fc = a.get_double("--wd-fc", c.wd_fc);
    c.ish = a.flag("--ish");
    c.ish_strategy = a.get("--ish-strategy", c.ish_strategy);
    c.ish_percentile = a.get_double("--ish-percentile", c.ish_percentile);
    train::ish_strategy_from_name(c.ish_strategy);  // validate early
    if (c.ish) train::ish_keep(2048, c.ish_percentile);
    c.seed = (uint64_t)a.get_int("--seed", 0);
    c.augment = !a.flag("--no-augment");
    c.shuffle = !a.flag("--no-shuffle");
    c.deterministic = a.flag("--deterministic");
    c.image_size = a.get_int("--image-size", c.image_size);
  }
  // Settings that may change on resume.
  c.out = out;
  c.strict = a.flag("--strict") || (resume && c.strict);
  c.device = a.get("--device", resume ? c.device : "cpu");
  ISH_CHECK(c.device == "cpu" || c.device == "cuda", "--device must be cpu or cuda, got '", c.device, "'");
  c.max_steps = a.get_int("--steps", -1);
  c.log_every = a.get_int("--log-every", c.log_every);
  c.save_every = a.get_int("--save-every", c.save_every);
  c.train_list = a.get("--train-list", c.train_list);
  c.val_list = a.get("--val-list", c.val_list);
  c.data_root = a.get("--data-root", c.data_root);
  long long num_classes = a.get_int("--num-classes", -1);
  long long width = a.get_int("--width", -1);
  const long long threads = a.get_int("--threads", 0);
  a.finish();
  ISH_CHECK(threads >= 0 && threads <= 256, "--threads must be in [0, 256], got ", threads);
  ish::set_threads((int)threads);  // compute and decode together (engine/threads.h)
  ISH_CHECK(!c.train_list.empty(), "--train-list is required (see ishscale train --help)");
  ISH_CHECK(c.max_steps == -1 || c.max_steps >= 0, "--steps must be >= 0");

  ISH_CHECK(c.image_size >= 1 && c.image_size <= 4096, "--image-size must be in [1, 4096], got ", c.image_size);
  const img::Transform transform = img::Transform::imagenet((int)c.image_size);
  train::ImageListDataset train_set(c.train_list, c.data_root, transform);
  std::unique_ptr<train::ImageListDataset> val_set;
  if (!c.val_list.empty()) val_set = std::make_unique<train::ImageListDataset>(c.val_list, c.data_root, transform);

  // Model: architecture from --arch/--width; classes from the flag, the weights or the labels.
  models::ResNetConfig rc = models::config_for(c.arch);
  weights::StateDict init;
  if (!c.weights.empty() && !resume) init = weights::load_any(c.weights);
  if (resume) {
    // The checkpoint's fc.bias tells the class count and the stem width.
    st::File f = st::File::open(resume_path);
    rc.num_classes = (int)f.info("fc.bias").shape.at(0);
    rc.width = (int)f.info("conv1.weight").shape.at(0);
  } else {
    if (width > 0) rc.width = (int)width;
    if (num_classes > 0) {
      rc.num_classes = (int)num_classes;
    } else if (!init.empty()) {
      for (auto& [k, t] : init)
        if (k == "fc.bias" || k == "module.fc.bias") rc.num_classes = (int)t.size(0);
    } else {
      rc.num_classes = (int)train_set.max_label() + 1;
    }
    if (!init.empty())
      for (auto& [k, t] : init)
        if (k == "conv1.weight" || k == "module.conv1.weight") rc.width = (int)t.size(0);
  }
  ISH_CHECK(train_set.max_label() < rc.num_classes, c.train_list, ": label ", train_set.max_label(),
            " does not fit ", rc.num_classes, " classes");
  rc.seed = c.seed;
  rc.init = init.empty() && !resume;  // weights about to be loaded: skip the random init
  models::ResNet model(rc, c.arch);
  if (!init.empty()) models::load_state_dict(model, init, c.weights);
  if (c.device == "cuda") model.to(Device::CUDA);
  if (!c.out.empty()) {
    ::mkdir(c.out.c_str(), 0755);
    struct stat sb;
    ISH_CHECK(stat(c.out.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode), "--out ", c.out, " is not a directory");
  }
  std::printf("train: %s (%d classes, width %d) on %s, %lld images%s, %s, batch %lld x %lld, lr %g%s\n",
              c.arch.c_str(), rc.num_classes, rc.width, c.device.c_str(), (long long)train_set.size(),
              val_set ? str(", val ", val_set->size()).c_str() : "", c.ish ? ("ISH " + c.ish_strategy).c_str() : "CE",
              (long long)c.batch_size, (long long)c.accum, c.lr, c.nesterov ? " nesterov" : "");
  train::Trainer trainer(model, train_set, val_set.get(), c, resume_path, (int)threads);
  train::TrainResult r = trainer.run();
  std::printf("train: %s after %lld steps; best val acc %s\n", r.finished ? "finished" : "stopped",
              (long long)r.steps, r.best_acc >= 0 ? str(r.best_acc, "%").c_str() : "n/a");
  return 0;
}

}  // namespace ish::cli
