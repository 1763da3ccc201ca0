#include "eval/aps.h"

#include <cmath>

#include "engine/error.h"
#include "eval/metrics.h"
#include "util/progress.h"

namespace ish::eval {

ApsResult aps_search(Detector& d, const FeatureSet& id_val, const FeatureSet& ood_val, const std::vector<HParams>& grid_in,
                     const ImageStream* id_images, const ImageStream* ood_images,
                     const std::function<void(const std::string&)>& log) {
  std::vector<HParams> grid = grid_in.empty() ? d.grid() : grid_in;
  ISH_CHECK(!grid.empty(), "APS: ", d.name(), " has no hyper-parameter grid");
  ApsResult r;
  bool have = false;
  util::ProgressOptions po;
  po.unit = "points";
  po.on = false;  // only its status() text, appended to the lines of the scored points
  util::Progress prog("APS " + d.name(), (int64_t)grid.size(), po);
  int64_t done = 0;
  for (const HParams& hp : grid) {
    done++;
    try {
      d.set_params(hp);
    } catch (const Error& e) {  // a point that does not apply to this data (K > #train, dim >= D, ...)
      r.skipped.push_back(hparams_str(hp) + ": " + e.what());  // told once, after the loop
      continue;
    }
    Scores a = d.score(id_val, id_images), b = d.score(ood_val, ood_images);
    std::vector<float> conf = a.conf;
    conf.insert(conf.end(), b.conf.begin(), b.conf.end());
    std::vector<int64_t> label(conf.size(), -1);
    const int64_t* yl = id_val.labels.data<int64_t>();
    for (size_t i = 0; i < a.conf.size(); i++) label[i] = yl[i] == -1 ? 0 : yl[i];  // ID val is ID whatever its label
    double au = auroc(conf, label);
    r.trace.push_back({hp, au});
    if (log) log("APS " + d.name() + " " + hparams_str(hp) + " auroc=" + std::to_string(au) + " [" + prog.status(done) + "]");
    if (!have || au > r.best_auroc) {  // OpenOOD: `if auroc > max_auroc` -> the first strict maximum
      r.best = hp;
      r.best_auroc = au;
      have = true;
    }
  }
  ISH_CHECK(have, "APS: no grid point of ", d.name(), " applies to this data (", grid.size(), " refused; first ",
            r.skipped.empty() ? std::string("?") : r.skipped.front(), ")");
  if (!r.skipped.empty() && log)
    log("APS " + d.name() + ": " + std::to_string(r.skipped.size()) + " of " + std::to_string(grid.size()) +
        " grid points do not apply (first " + r.skipped.front() + ")");
  d.set_params(r.best);
  return r;
}

}  // namespace ish::eval
