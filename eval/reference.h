// The OpenOOD v1.5 leaderboard's ImageNet-1K numbers for ResNet-50 (../shared/METHOD.md, "Reference
// results", and METHOD-DETECTORS-2.md, "Reference numbers"), shown beside a `--benchmark imagenet`
// run's own in results.json and the report, so a user on the real benchmark sees whether they
// reproduce them. Each entry is for torchvision's V1 weights or the released ISH checkpoint.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "eval/benchmark.h"

namespace ish::eval {

struct ReferenceRow {
  const char* pp;       // ishscale's postprocessor name
  const char* weights;  // "torchvision V1" or "ISH checkpoint"
  // Percentages; NaN where the leaderboard gives none.
  double near_auroc, far_auroc, acc, near_fpr95, far_fpr95;  // OOD
  double fs_near_auroc, fs_far_auroc, fs_acc;                // FS-OOD (NaN: no FS-OOD entry)
};

// Every leaderboard entry, in the documents' order.
const std::vector<ReferenceRow>& reference_rows();
bool has_reference(const std::string& pp);
// [{"weights", "model", "source", "ood": {...}, "fsood": {...} or null}, ...] for pp (empty if none).
nlohmann::json reference_json(const std::string& pp);
// The report's section: for each result with entries, the run's own numbers and the references'.
// Empty when opt.reference is off or no result has an entry.
std::string reference_html(const std::vector<PPResult>& results, const OutputOptions& opt);
// The same for stdout.
std::string reference_text(const std::vector<PPResult>& results);

}  // namespace ish::eval
