// FS-OOD (full-spectrum OOD) evaluation, as OpenOOD v1.5's eval_ood(fsood=True): covariate-shifted ID
// sets ("csid": ImageNet-V2, -C, -R, -ES for ImageNet-1K) are scored by each detector beside ID test, and
// every near/far dataset's metrics take ID test + every csid set as ID. ACC is the pooled top-1 of the
// plain logits over ID test + every csid set. APS is unchanged (ID val against OOD val).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "eval/run.h"

namespace ish::eval {

// The four csid lists of OpenOOD v1.5's ImageNet-1K benchmark under data_root
// (benchmark_imglist/imagenet/test_imagenet_{v2,c,r,es}.txt, images under images_largescale/).
std::vector<ListSpec> imagenet_csid(const std::string& data_root);

// The transform of csid set `name`: `t` itself, except for imagenet_c (keyed on the name, as OpenOOD
// does), whose 224x224 images are only normalised: no resize, no crop; another size is an error for that
// file (skipped and counted, or fatal under --strict).
img::Transform csid_transform(const std::string& name, img::Transform t);

// Before any extraction: csid names are unique and usable as a directory name, and every list's labels
// are class indices (>= 0; a csid sample is ID data). Errors name the list file and line.
void check_csid_lists(const std::vector<ListSpec>& csid);

// evaluate()'s checks of in.csid: each set non-empty and well-formed, names unique, labels in [0, C).
void check_csid_sets(const EvalInputs& in);

// Scores every csid set with `det` (already fitted and tuned) and fills r.fsood from r's ID test and
// OOD scores; id_plain is the ID test argmax of the plain logits. Counts undefined scores in r.degenerate.
void score_fsood(Detector& det, const EvalInputs& in, const std::vector<int64_t>& id_plain, PPResult& r,
                 const std::function<void(const std::string&)>& log);

// r's FS-OOD metrics in the shape of an OOD result (name, near/far rows and means, acc = the pooled
// ACC), so the CSV, JSON and HTML writers of ood/ serve fsood/ too. No scores are copied.
PPResult fsood_view(const PPResult& r);

// The stdout lines of the FS-OOD results (empty when no result has csid sets).
std::string fsood_summary_text(const std::vector<PPResult>& results);

}  // namespace ish::eval
