// Orchestration of an OOD evaluation over cached network outputs: fit, APS, score every split, compute
// OpenOOD's metrics per dataset plus the near/far means, and write the outputs (CSV, .npy scores,
// results.json, report.html). `ishscale eval` and the demo both call evaluate() + write_outputs().
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eval/aps.h"
#include "eval/detectors.h"
#include "eval/metrics.h"

namespace ish::eval {

struct NamedSet {
  std::string name;
  FeatureSet f;
  ImageStream images;  // optional: only odin reads it
};

struct EvalInputs {
  Fc fc;
  NamedSet id_test;                      // required; name e.g. "imagenet"
  NamedSet id_val, ood_val, id_train;    // optional (size 0 = absent): APS, react, knn/vim/mds
  std::vector<NamedSet> near, far;       // OOD test sets
  std::vector<NamedSet> csid;            // FS-OOD: covariate-shifted ID sets (labelled), scored as ID
  InputGradNet* net = nullptr;           // odin only
};

struct EvalConfig {
  std::vector<std::string> postprocessors;  // names from detector_names()
  bool aps = true;                          // search grids on id_val vs ood_val when both exist
  double percentile = -1;                   // >= 0: fix react/ash*/scale's percentile and skip their APS
  std::map<std::string, HParams> fixed;     // per-detector hyper-parameters (skip APS for those)
  std::map<std::string, std::vector<HParams>> grids;  // APS grid per detector, instead of its own grid()
  std::function<void(const std::string&)> log;  // progress lines (stderr in the CLI)
  bool save_aux = false;      // AdaSCALE: keep feature_perturbed [N,D] in Scores::aux (--save-aux)
  int64_t batch_size = 200;   // the loader batch size (NNGuide's bank rule)
};

struct DatasetResult {
  std::string split;  // near | far
  std::string name;
  Metrics m;
  Scores s;           // the OOD set's scores
};

// FS-OOD (eval/fsood.h): one covariate-shifted ID set's scores, and the metrics with ID test + every csid
// set as ID.
struct CsidResult {
  std::string name;
  Scores s;                  // the detector's scores
  std::vector<int64_t> gt;   // the list's labels
  double acc = 0;            // top-1 of the plain logits on this set
};
struct FsoodResult {
  std::vector<CsidResult> csid;             // empty: no FS-OOD evaluation
  std::vector<DatasetResult> near, far;     // metrics only (the OOD scores are PPResult's)
  Metrics near_mean, far_mean;
  double acc = 0;                           // pooled top-1 over ID test + every csid set, plain logits
};

struct PPResult {
  std::string name;
  HParams params;      // the values used
  std::string params_text;  // the same as text, with words where a key takes one
  bool searched = false;
  ApsResult aps;       // when searched
  Scores id_test;      // ID test scores
  std::vector<int64_t> id_test_gt;
  std::vector<DatasetResult> near, far;
  Metrics near_mean, far_mean;
  double acc = 0;            // ID top-1 from the plain logits (METHOD.md)
  double acc_detector = 0;   // ID top-1 from the detector's own predictions (the SCALE fork's number)
  int64_t degenerate = 0;    // scores defined by us (s2 = 0 etc.), over every scored split
  double seconds = 0;
  std::vector<std::pair<std::string, Tensor>> fit_aux;  // AdaSCALE: the ECDF fit set's intermediates
  FsoodResult fsood;         // when EvalInputs::csid is not empty
};

// A detector that could not run (every APS point refused, a singular fit, any ish::Error of its own).
struct DetectorFailure {
  std::string name;
  std::string reason;  // the error's one line
};
// Pieces of evaluate() that the FS-OOD pass shares: argmax of each logit row; NaN scores set to -inf
// and counted in s.degenerate; the unweighted mean of rows' metrics.
std::vector<int64_t> plain_pred(const FeatureSet& f);
void sanitize(Scores& s);
Metrics mean_of(const std::vector<DatasetResult>& rows);

// The detectors of `names`, in that order (net: see make_detector).
std::vector<std::unique_ptr<Detector>> make_detectors(const std::vector<std::string>& names, const Fc& fc,
                                                      InputGradNet* net);

// Each detector is fitted once, its hyper-parameters fixed or searched (APS), the ID test set scored
// once, and each OOD set once. `detectors` are fresh ones from make_detectors(cfg.postprocessors, ...)
// (the caller may have asked them what they need); the other overload builds them. ID test labels must
// be -1 (unknown, left out of ACC) or in [0, classes). With `failed`, a detector that throws ish::Error
// is logged in one line, appended there and skipped (the others still run); without, the error propagates.
std::vector<PPResult> evaluate(const EvalInputs& in, const EvalConfig& cfg,
                               std::vector<std::unique_ptr<Detector>> detectors,
                               std::vector<DetectorFailure>* failed = nullptr);
std::vector<PPResult> evaluate(const EvalInputs& in, const EvalConfig& cfg);

struct OutputOptions {
  std::string out_dir;
  bool save_csv = true;     // ood/<pp>.csv
  bool save_score = false;  // scores/<pp>/<split>/<dataset>/{conf,pred,gt}.npy
  bool report = true;       // report.html
  std::string title = "ishscale OOD evaluation";
  std::map<std::string, std::string> info;         // run facts for results.json / the report (arch, weights...)
  std::map<std::string, int64_t> skipped_files;    // per list: images skipped while extracting
  std::map<std::string, int64_t> counts;           // per list: samples scored
  std::vector<DetectorFailure> failed;             // detectors of this run that could not run
  std::function<void(const std::string&)> log;     // notes (CSVs of earlier runs with other weights)
  bool reference = false;  // the OpenOOD leaderboard's ResNet-50 numbers beside the run's (eval/reference.h)
};

// One ood/<pp>.csv of the output folder: written by this run or kept from an earlier one (a run replaces
// the CSVs of the detectors it runs and leaves the others, OpenOOD's convention).
struct CsvEntry {
  std::string name;      // the postprocessor
  std::string written;   // the file's modification time, UTC, ISO 8601 ("2026-01-31T12:00:00Z")
  bool this_run = false;
  std::map<std::string, std::string> run;  // that run's info (weights, hash, ...), when results.json kept it
};
// The ood/*.csv files under out_dir, sorted by name; entries not of this run take their run info from
// `previous` (the former results.json's "csv" object) when its time stamp still matches the file.
std::vector<CsvEntry> csv_inventory(const std::string& out_dir, const std::vector<PPResult>& results,
                                    const std::map<std::string, std::string>& info,
                                    const std::string& previous_results_json);

// Writes ood/<pp>.csv (and scores/<pp>/ with save_score, replacing that detector's earlier .npy files)
// for each result, then results.json and report.html, which name this run's detectors, its failures and
// every CSV in the folder with its time and run.
void write_outputs(const std::vector<PPResult>& results, const EvalInputs& in, const OutputOptions& opt);

// OpenOOD's CSV text: ",FPR@95,AUROC,AUPR_IN,AUPR_OUT,ACC", the near datasets, "nearood", the far
// datasets, "farood"; values x100 with '{:.2f}'.format.
std::string openood_csv(const PPResult& r);
// The self-contained HTML report (inline SVG; no external resources). `csv`: the folder's CSVs.
std::string report_html(const std::vector<PPResult>& results, const OutputOptions& opt,
                        const std::vector<CsvEntry>& csv = {});

}  // namespace ish::eval
