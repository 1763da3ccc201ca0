// ishscale train: CE or ISH training (train/trainer.h) on an image list, with checkpoints and resume.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "models/model_file.h"
#include "models/resnet.h"
#include "models/zoo.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/imglist_dataset.h"
#include "train/ish.h"
#include "train/trainer.h"
#include "weights/safetensors.h"

namespace ish::cli {

static const char* kHelp =
    "usage: ishscale train --train-list LIST --data-root DIR --out DIR [flags]\n"
    "Fine-tunes or trains a ResNet with cross-entropy, optionally with ISH (OpenOOD train_ish.yml defaults).\n"
    "  --train-list LIST, --val-list LIST   OpenOOD image lists ('path label'), relative to the working directory\n"
    "  --data-root DIR                      the folder the image paths inside the lists are relative to\n"
    "  --arch NAME (resnet50)               resnet18|34|50|101|152, or <arch>_cifar (3x3 stem, no max pool);\n"
    "                                       transformers (vit_b_16, swin_t, ...) are evaluated, not trained here;\n"
    "                                       with --weights: from the file (metadata or tensors)\n"
    "  --weights FILE                       initial weights (.safetensors, .pth, or a training checkpoint whose\n"
    "                                       optimizer state is then ignored); random init without\n"
    "  --num-classes N                      default: from --weights, else the largest label + 1; with --weights\n"
    "                                       it must match the file's unless --reset-head\n"
    "  --reset-head                         re-initialise fc (for --num-classes N, else the labels' count)\n"
    "  --width W (64)                       stem width (smaller for quick experiments); with --weights it must\n"
    "                                       match the file's\n"
    "  --image-size S (224)                 training crop / eval centre crop (eval resize int(S*256/224));\n"
    "                                       with --weights: the file's when it records one\n"
    "  --epochs N (10)  --batch-size N (128)  --accum N (1: micro-batches per optimizer step)\n"
    "  --lr X (0.003)  --momentum X (0.9, in [0,1))  --nesterov (on) / --no-nesterov\n"
    "  --wd X (5e-4)  --wd-fc X (5e-5, for fc.weight and fc.bias)   cosine LR per step down to 1e-6\n"
    "  --ish  --ish-strategy minksample_expscale|expscale|minksample_lnscale  --ish-percentile P (0.85)\n"
    "  --seed N (0)  --no-augment  --no-shuffle  --deterministic  --strict (abort on a corrupt image)\n"
    "  --out DIR                            last.safetensors (with optimizer state, for --resume),\n"
    "                                       best.safetensors (with --val-list), final.safetensors (the model\n"
    "                                       at the end), summary.csv. Every checkpoint records arch, width,\n"
    "                                       input channels, classes, image size and resize, so eval, classify\n"
    "                                       and features need no --arch/--width/--image-size\n"
    "  --resume                             continue from OUT/last.safetensors with its stored config\n"
    "                                       (--steps, --device, --tf32, --data-root, lists, logging may change)\n"
    "  --steps N                            stop once N optimizer steps are done in total\n"
    "  --log-every N (50)                   a stdout line every N steps: loss and top-1 over them, img/s,\n"
    "                                       ETA of the epoch and of the run (progress on stderr meanwhile)\n"
    "  --save-every N (500)  --device cpu|cuda\n"
    "  --threads N (0: all)                 the cores it may use, compute and decode together\n"
    "  --max-image-mb N (256)               image files over N MiB are refused before reading (0: no cap)\n";
static const char* kNotes =
    "A non-finite loss stops the run (exit 2) before anything from its step on is saved; the message names\n"
    "the step and the checkpoint holding the last good state. The --tf32 setting is stored in the checkpoints.\n";

namespace {

// train builds ResNets only: a transformer (any name models/zoo.h gives a ViT or Swin family) is one line.
void refuse_transformer(const std::string& arch, const std::string& who) {
  const std::string c = models::zoo::canonical(arch);
  ISH_CHECK(c.empty() || !models::zoo::is_transformer(c), "train: ", who, ": ", arch,
            " is a transformer; train builds ResNets only (eval, classify and features take ", c, ")");
}

// The initial model from --weights: architecture and width from the file (flags must agree), classes
// from the file unless --reset-head re-initialises fc.
models::ResNet model_from_weights(const train::TrainConfig& c, const models::WeightsFile& w, long long num_classes,
                                  bool reset_head, const train::ImageListDataset& train_set) {
  models::ResNetConfig rc = models::config_of(w.meta);
  ISH_CHECK(rc.in_channels == 3, c.weights, ": the model takes ", rc.in_channels, "-channel input; train feeds RGB images");
  if (num_classes > 0 && num_classes != rc.num_classes)
    ISH_CHECK(reset_head, "--num-classes ", num_classes, " differs from the ", rc.num_classes, " classes of ", c.weights,
              " (add --reset-head to re-initialise fc)");
  if (reset_head) rc.num_classes = num_classes > 0 ? (int)num_classes : (int)train_set.max_label() + 1;
  rc.seed = c.seed;
  rc.init = reset_head;  // fc keeps its fresh init; everything else is loaded
  models::ResNet model(rc, c.arch);
  models::LoadOptions lo;
  if (reset_head) lo.ignore_prefixes = {"fc."};
  models::load_weights_file(model, w, lo);
  return model;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kHelp, stdout);
    std::fputs(kTf32Help, stdout);
    std::fputs(kNotes, stdout);
    return 0;
  }
  Args a(argc, argv,
         {"--ish", "--nesterov", "--no-nesterov", "--resume", "--deterministic", "--no-augment", "--no-shuffle",
          "--strict", "--reset-head"});
  train::TrainConfig c;
  const bool resume = a.flag("--resume");
  const std::string out = a.get("--out");
  std::string resume_path;
  models::ModelMeta given;  // --arch / --width as given
  if (resume) {
    ISH_CHECK(!out.empty(), "--resume needs --out DIR (it continues from DIR/last.safetensors)");
    resume_path = out + "/last.safetensors";
    ISH_CHECK(::access(resume_path.c_str(), F_OK) == 0, "--resume: ", resume_path, " does not exist");
    c = train::config_from_json(train::read_checkpoint_meta(resume_path).config, resume_path);
    for (const char* f : {"--arch", "--weights", "--epochs", "--batch-size", "--accum", "--lr", "--momentum",
                          "--wd", "--wd-fc", "--ish-strategy", "--ish-percentile", "--seed", "--num-classes",
                          "--width", "--image-size"})
      if (a.has(f)) std::fprintf(stderr, "warning: %s ignored: --resume uses the checkpoint's config\n", f);
    for (const char* f : {"--ish", "--nesterov", "--no-nesterov", "--no-augment", "--no-shuffle", "--deterministic",
                          "--reset-head"})
      if (a.flag(f)) std::fprintf(stderr, "warning: %s ignored: --resume uses the checkpoint's config\n", f);
  } else {
    if (a.has("--arch")) given.arch = c.arch = a.get("--arch");
    refuse_transformer(c.arch, "--arch");
    models::config_for(c.arch);  // an unknown name fails here, listing the known ones
    c.weights = a.get("--weights");
    c.epochs = a.get_int_in("--epochs", c.epochs, 1, 1000000);
    c.batch_size = a.get_int_in("--batch-size", c.batch_size, 1, 65536);
    c.accum = a.get_int_in("--accum", c.accum, 1, 65536);
    c.lr = a.get_double_in("--lr", c.lr, 0, 100);
    ISH_CHECK(c.lr > 0, "--lr must be > 0, got ", c.lr);
    c.momentum = a.get_double_in("--momentum", c.momentum, 0, 1, /*hi_open=*/true);
    bool no_nest = a.flag("--no-nesterov");
    ISH_CHECK(!(no_nest && a.flag("--nesterov")), "--nesterov and --no-nesterov contradict each other");
    c.nesterov = !no_nest;
    c.wd = a.get_double_in("--wd", c.wd, 0, 1, true);
    c.wd_fc = a.get_double_in("--wd-fc", c.wd_fc, 0, 1, true);
    c.ish = a.flag("--ish");
    c.ish_strategy = a.get("--ish-strategy", c.ish_strategy);
    c.ish_percentile = a.get_double_in("--ish-percentile", c.ish_percentile, 0, 1, true);
    train::ish_strategy_from_name(c.ish_strategy);  // validate early
    if (c.ish) train::ish_keep(2048, c.ish_percentile);
    c.seed = (uint64_t)a.get_int_in("--seed", 0, 0, INT64_MAX);
    c.augment = !a.flag("--no-augment");
    c.shuffle = !a.flag("--no-shuffle");
    c.deterministic = a.flag("--deterministic");
    c.image_size = a.has("--image-size") ? a.get_int_in("--image-size", 0, 1, 4096) : 0;  // 0: not given
    if (a.has("--width")) given.width = (int)a.get_int_in("--width", 0, 1, 4096);
  }
  // Settings that may change on resume.
  c.out = out;
  c.strict = a.flag("--strict") || (resume && c.strict);
  c.device = a.get("--device", resume ? c.device : "cpu");
  parse_device(c.device);
  c.tf32 = tf32_flag(a, resume ? c.tf32 : "on");
  c.max_steps = a.has("--steps") ? a.get_int_in("--steps", 0, 0, INT64_MAX) : -1;
  c.log_every = a.get_int_in("--log-every", c.log_every, 1, INT64_MAX);
  c.save_every = a.get_int_in("--save-every", c.save_every, 1, INT64_MAX);
  c.train_list = a.get("--train-list", c.train_list);
  c.val_list = a.get("--val-list", c.val_list);
  c.data_root = a.get("--data-root", c.data_root);
  const long long num_classes = a.has("--num-classes") ? a.get_int_in("--num-classes", 0, 1, 1 << 24) : -1;
  const bool reset_head = a.flag("--reset-head");
  const long long threads = a.get_int_in("--threads", 0, 0, 256);
  const img::DecodeOptions decode = parse_decode_flags(a);
  a.finish();
  ISH_CHECK(!reset_head || resume || !c.weights.empty(), "--reset-head needs --weights");
  ish::set_threads((int)threads);  // compute and decode together (engine/threads.h)
  ISH_CHECK(!c.train_list.empty(), "--train-list is required (see ishscale train --help)");
  if (!c.out.empty()) check_writable_dir(c.out, "--out");

  // The initial weights first: they give the architecture and may give the image size.
  std::unique_ptr<models::WeightsFile> wf;
  if (!resume && !c.weights.empty()) {
    wf = std::make_unique<models::WeightsFile>(models::read_weights(c.weights, given));
    if (wf->optim_entries) std::fprintf(stderr, "%s\n", models::optim_note(*wf).c_str());
    refuse_transformer(wf->meta.arch, c.weights);
    c.arch = wf->meta.arch;
    if (c.image_size == 0) c.image_size = wf->meta.image_size;
  }
  if (c.image_size == 0) c.image_size = 224;
  const img::Transform transform = img::Transform::imagenet((int)c.image_size);
  train::ImageListDataset train_set(c.train_list, c.data_root, transform, decode);
  std::unique_ptr<train::ImageListDataset> val_set;
  if (!c.val_list.empty())
    val_set = std::make_unique<train::ImageListDataset>(c.val_list, c.data_root, transform, decode);

  // The model: from --weights, from the checkpoint being resumed, or built from the flags.
  std::unique_ptr<models::ResNet> model;
  if (wf) {
    model = std::make_unique<models::ResNet>(model_from_weights(c, *wf, num_classes, reset_head, train_set));
    wf.reset();  // the weights are in the model now
  } else {
    models::ResNetConfig rc = models::config_for(c.arch);
    if (resume) {  // the checkpoint's fc.bias and conv1 tell the class count and the stem width
      st::File f = st::File::open(resume_path);
      rc.num_classes = (int)f.info("fc.bias").shape.at(0);
      rc.width = (int)f.info("conv1.weight").shape.at(0);
    } else {
      if (given.width > 0) rc.width = given.width;
      rc.num_classes = num_classes > 0 ? (int)num_classes : (int)train_set.max_label() + 1;
    }
    rc.seed = c.seed;
    rc.init = !resume;  // a resumed model is loaded by the trainer
    model = std::make_unique<models::ResNet>(rc, c.arch);
  }
  const int classes = model->num_classes();
  ISH_CHECK(train_set.max_label() < classes, c.train_list, ": label ", train_set.max_label(), " does not fit ", classes,
            " classes", resume ? "" : " (--num-classes N --reset-head gives the model a new head)");
  if (c.device == "cuda") model->to(Device::CUDA);
  std::printf("train: %s (%d classes, width %d) on %s, %lld images%s, %s, batch %lld x %lld, lr %g%s\n",
              c.arch.c_str(), classes, model->config().width, c.device.c_str(), (long long)train_set.size(),
              val_set ? str(", val ", val_set->size()).c_str() : "", c.ish ? ("ISH " + c.ish_strategy).c_str() : "CE",
              (long long)c.batch_size, (long long)c.accum, c.lr, c.nesterov ? " nesterov" : "");
  train::Trainer trainer(*model, train_set, val_set.get(), c, resume_path, (int)threads);
  train::TrainResult r = trainer.run();
  std::printf("train: %s after %lld steps; best val acc %s%s\n", r.finished ? "finished" : "stopped",
              (long long)r.steps, r.best_acc >= 0 ? str(r.best_acc, "%").c_str() : "n/a",
              c.out.empty() ? "" : ("; model in " + c.out + "/final.safetensors").c_str());
  return 0;
}

}  // namespace ish::cli
