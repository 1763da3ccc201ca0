// An evaluation from image lists: extract (or load cached) features for the lists the chosen
// postprocessors need, then evaluate() and write_outputs(). The OpenOOD v1.5 ImageNet-1K layout is
// built in (imagenet_benchmark); explicit lists work the same way.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "eval/benchmark.h"
#include "eval/features.h"
#include "models/net.h"

namespace ish::eval {

struct ListSpec {
  std::string name;  // dataset name in outputs ("ssb_hard")
  std::string list;  // image list file (as given: relative to the working directory, like any path)
  std::string root;  // directory the image paths inside the list are relative to
  bool defined() const { return !list.empty(); }
};

struct ListBenchmark {
  ListSpec id_test, id_val, ood_val, id_train;  // id_test required; the others optional
  std::vector<ListSpec> near, far;
  std::vector<ListSpec> csid;  // FS-OOD: covariate-shifted ID lists (eval/fsood.h)
};

// OpenOOD v1.5 under data_root: benchmark_imglist/imagenet/*.txt with images under images_largescale/
// (Textures: images_classic/). id_train is set only when train_imagenet.txt exists.
ListBenchmark imagenet_benchmark(const std::string& data_root);

// One list an evaluation will read, for check_lists().
struct ListCheck {
  std::string key;  // "near/ninco", as in the logs and counts
  ListSpec spec;
  bool id = false;  // an ID list: its labels must lie in [0, classes)
  std::function<bool(const img::ImgList&)> reads_images;  // whether its images will be read (not cached)
};

// Everything an evaluation reads, checked before anything is extracted: each image folder, each list
// file, each list's syntax, ID labels, and a sample of 16 image paths of each list whose images will
// be read. Appends one line per problem to *problems (all of them, not the first); returns the lists
// that could be read, by key.
std::map<std::string, img::ImgList> check_lists(const std::vector<ListCheck>& lists, int64_t classes,
                                                std::vector<std::string>* problems);

struct RunOptions {
  ExtractOptions extract;
  EvalConfig cfg;
  OutputOptions out;
};

// The model's linear head as the detectors take it (CPU copies of its weight and bias: ResNet fc,
// ViT heads.head, Swin head).
Fc fc_of(models::Net& model);

// Checks every list the postprocessors need (check_lists; all problems at once, then ish::Error), extracts
// (or loads from the cache) their features, builds each detector once and evaluates them (evaluate()),
// then writes the outputs. Fills opt.out.counts, skipped_files and failed (the detectors that could not
// run; the others' results are returned and written).
std::vector<PPResult> run_benchmark(models::Net& model, const ListBenchmark& b, RunOptions& opt);

}  // namespace ish::eval
