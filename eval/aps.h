// APS, OpenOOD v1.5's automatic hyper-parameter search: score ID val and OOD val at every grid point,
// compute the AUROC of their union (OOD positive) and keep the FIRST strict maximum.
#pragma once
#include <string>
#include <vector>

#include "eval/detectors.h"

namespace ish::eval {

struct ApsResult {
  HParams best;
  double best_auroc = 0;
  std::vector<std::pair<HParams, double>> trace;  // every grid point tried, with its AUROC
  std::vector<std::string> skipped;                // grid points the detector refused (e.g. K > #train)
};

// Runs the search over d.grid() (or `grid` when non-empty) and leaves d set to the winner. `log`, when
// given, receives one line per grid point scored (its AUROC and the search's progress: k/n points,
// rate, ETA) and one line for the refused points. Detectors that need images get id_images / ood_images.
ApsResult aps_search(Detector& d, const FeatureSet& id_val, const FeatureSet& ood_val,
                     const std::vector<HParams>& grid = {}, const ImageStream* id_images = nullptr,
                     const ImageStream* ood_images = nullptr,
                     const std::function<void(const std::string&)>& log = nullptr);

}  // namespace ish::eval
