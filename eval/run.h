// An evaluation from image lists: extract (or load cached) features for the lists the chosen
// postprocessors need, then evaluate() and write_outputs(). The OpenOOD v1.5 ImageNet-1K layout is
// built in (imagenet_benchmark); explicit lists work the same way.
#pragma once
#include <string>
#include <vector>

#include "eval/benchmark.h"
#include "eval/features.h"
#include "models/resnet.h"

namespace ish::eval {

struct ListSpec {
  std::string name;  // dataset name in outputs ("ssb_hard")
  std::string list;  // image list file
  std::string root;  // directory the list's paths are relative to
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

struct RunOptions {
  ExtractOptions extract;
  EvalConfig cfg;
  OutputOptions out;
};

// The fc layer of a ResNet as the detectors take it (CPU copies of fc.weight and fc.bias).
Fc fc_of(models::ResNet& model);

// Extracts (or loads from the cache) the lists the postprocessors need, builds each detector once and
// evaluates them (evaluate()), then writes the outputs. Fills opt.out.counts and skipped_files.
std::vector<PPResult> run_benchmark(models::ResNet& model, const ListBenchmark& b, RunOptions& opt);

}  // namespace ish::eval
