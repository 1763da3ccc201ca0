// The paired CE-vs-ISH comparison: both fine-tunes of a seed start from the same CE-scratch model with the
// same schedule and data order, so per seed the difference ISH-finetune − CE-finetune isolates ISH. Per
// detector and near/far: the mean difference over seeds, its sample std and how many seeds agree in sign.
#pragma once
#include <string>
#include <vector>

#include "demo/results.h"

namespace ish::demo {

struct PairedDiff {
  std::string detector;
  bool far = false;
  MeanStd diff;       // AUROC points (percent), one value per seed present in both trainings
  int positive = 0;   // seeds with diff > 0
  int negative = 0;   // seeds with diff < 0
  // Seeds whose sign is that of the mean (0 when the mean is 0).
  int agree() const { return diff.mean > 0 ? positive : diff.mean < 0 ? negative : 0; }
};

// Per detector (detector_order), near then far. Empty when either fine-tune is missing. Seeds pair by
// seed number.
std::vector<PairedDiff> paired_diffs(const DemoRun& r);

// The text table (stdout and summary.txt).
std::string paired_table(const std::vector<PairedDiff>& p);

// The plain statement for one detector and split ("scale", near): whether ISH helped here and by how
// much, and what the number of seeds allows (a two-sided sign test's smallest p is 2 / 2^n).
std::string paired_verdict(const std::vector<PairedDiff>& p, const std::string& detector = "scale", bool far = false);

}  // namespace ish::demo
