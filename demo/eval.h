// The demo's evaluation of one trained model: its features on every split, then eval::evaluate() (every
// detector, APS on ID val vs held-out-face letters, OpenOOD metrics) and eval::write_outputs() (OpenOOD
// CSVs, .npy scores, results.json and report.html of this model) under the model's directory.
#pragma once
#include <string>
#include <vector>

#include "demo/config.h"
#include "demo/data.h"
#include "eval/benchmark.h"
#include "models/resnet.h"

namespace ish::demo {

struct ModelEval {
  std::string training;  // ce_scratch | ce_finetune | ish_finetune
  int seed = 0;
  std::string dir;       // where its outputs are
  double id_acc = 0;     // plain-logit top-1 on the ID test set, percent
  double train_seconds = 0, eval_seconds = 0;
  std::vector<eval::PPResult> pps;  // in eval::detector_names() order
  eval::OutputOptions opt;          // what write_outputs() got (for the combined report)
};

ModelEval evaluate_model(models::ResNet& model, const DemoData& d, const DemoConfig& c, const std::string& training,
                         int seed, const std::string& dir);

}  // namespace ish::demo
