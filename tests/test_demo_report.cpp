// The demo's summaries on a synthetic run: the paired ISH-minus-CE comparison and its verdict, the report
// (headline chart, best-per-column highlight, links instead of frames), and the chart axes (util/axis.h)
// as eval's score histograms use them.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "demo/paired.h"
#include "demo/report.h"
#include "demo/results.h"
#include "eval/benchmark.h"
#include "util/axis.h"

using namespace ish;
using namespace ish::demo;

namespace {

// A run with two detectors and three seeds: AUROC (fractions) per training, detector and seed.
DemoRun synthetic_run(const std::string& out) {
  DemoRun r;
  r.config.out = out;
  struct Row {
    const char* t;
    const char* det;
    double near[3], far[3];
  };
  const Row rows[] = {
      {"ce_scratch", "msp", {0.70, 0.70, 0.70}, {0.90, 0.90, 0.90}},
      {"ce_scratch", "scale", {0.75, 0.75, 0.75}, {0.91, 0.91, 0.91}},
      {"ce_finetune", "msp", {0.71, 0.72, 0.73}, {0.92, 0.92, 0.92}},
      {"ce_finetune", "scale", {0.80, 0.82, 0.81}, {0.95, 0.93, 0.94}},
      {"ish_finetune", "msp", {0.72, 0.74, 0.76}, {0.92, 0.92, 0.92}},
      {"ish_finetune", "scale", {0.83, 0.84, 0.80}, {0.96, 0.94, 0.95}},
  };
  for (const char* t : {"ce_scratch", "ce_finetune", "ish_finetune"})
    for (int s = 0; s < 3; s++) {
      ModelEval e;
      e.training = t;
      e.seed = s;
      e.dir = out + "/seed" + std::to_string(s) + "/" + t;
      e.id_acc = 90 + s;
      for (auto& row : rows)
        if (std::string(row.t) == t) {
          eval::PPResult p;
          p.name = row.det;
          p.near_mean.auroc = row.near[s];
          p.far_mean.auroc = row.far[s];
          p.near_mean.fpr95 = 1 - row.near[s];
          p.far_mean.fpr95 = 1 - row.far[s];
          e.pps.push_back(p);
        }
      r.evals.push_back(e);
    }
  return r;
}

const PairedDiff& find(const std::vector<PairedDiff>& p, const std::string& det, bool far) {
  for (auto& x : p)
    if (x.detector == det && x.far == far) return x;
  FAIL("no paired row for " << det);
  return p.front();
}

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("demo: paired ISH-minus-CE differences pair seeds and count signs") {
  DemoRun r = synthetic_run("/tmp/unused");
  std::vector<PairedDiff> p = paired_diffs(r);
  REQUIRE(p.size() == 4);  // 2 detectors x near/far
  // scale near: ISH 83, 84, 80 vs CE 80, 82, 81 -> +3, +2, -1: mean 4/3, sample std sqrt(13/3).
  const PairedDiff& sn = find(p, "scale", false);
  REQUIRE(sn.diff.values.size() == 3);
  CHECK(sn.diff.values[0] == doctest::Approx(3));
  CHECK(sn.diff.values[2] == doctest::Approx(-1));
  CHECK(sn.diff.mean == doctest::Approx(4.0 / 3));
  CHECK(sn.diff.std == doctest::Approx(std::sqrt(13.0 / 3)));
  CHECK(sn.positive == 2);
  CHECK(sn.negative == 1);
  CHECK(sn.agree() == 2);
  // msp near: +1, +2, +3 in every seed; msp far: 0 in every seed (no sign agrees with a zero mean).
  CHECK(find(p, "msp", false).agree() == 3);
  CHECK(find(p, "msp", true).diff.mean == doctest::Approx(0));
  CHECK(find(p, "msp", true).agree() == 0);

  std::string v = paired_verdict(p);
  CHECK_MESSAGE(v.find("did not consistently help SCALE on near-OOD") != std::string::npos, v);
  CHECK_MESSAGE(v.find("+1.33 AUROC points") != std::string::npos, v);
  CHECK_MESSAGE(v.find("better in 2 of 3 seeds") != std::string::npos, v);
  v = paired_verdict(p, "msp", false);
  CHECK_MESSAGE(v.find("ISH helped msp on near-OOD here in every seed: +2.00 AUROC points") != std::string::npos, v);
  CHECK_MESSAGE(v.find("probability 0.25") != std::string::npos, v);  // two-sided sign test, 3 seeds

  std::string t = paired_table(p);
  CHECK_MESSAGE(t.find("scale      |  +1.33 ± 2.08    2/3") != std::string::npos, t);
  // The text summary carries the paired table and the verdict after the tables over seeds.
  std::string s = summary_table(r);
  CHECK(s.find("Paired AUROC difference") != std::string::npos);
  CHECK(s.find("did not consistently help SCALE") != std::string::npos);
}

TEST_CASE("demo: report has the headline chart, best-per-column highlight and links to full pages") {
  char buf[] = "/tmp/ishscale_demo_report_XXXXXX";
  REQUIRE(mkdtemp(buf) != nullptr);
  DemoRun r = synthetic_run(buf);
  write_report(r, std::string(buf) + "/report.html");
  const std::string h = slurp(std::string(buf) + "/report.html");
  // Headline chart: 2 panels x 2 detectors x 3 trainings bars, each with an error bar (3 seeds).
  REQUIRE(h.find("<svg xmlns='http://www.w3.org/2000/svg'") != std::string::npos);
  size_t bars = 0;
  for (size_t at = 0; (at = h.find("<rect x=", at)) != std::string::npos; at++) bars++;
  CHECK(bars == 3 + 2 * 2 * 3);  // 3 legend swatches + the bars
  CHECK(h.find("± 1 sample std") != std::string::npos);
  CHECK(h.find("scale, ISH-finetune: 82.33 ± 2.08") != std::string::npos);  // a bar's tooltip
  // Best mean per column: CE-scratch near is scale's 75.00 (not msp's 70.00); FPR column best is the lowest.
  CHECK(h.find("<td class='best'>75.00 &plusmn; 0.00</td>") != std::string::npos);
  CHECK(h.find("<td class='best'>70.00") == std::string::npos);
  CHECK(h.find("<td class='best'>25.00 &plusmn; 0.00</td>") != std::string::npos);  // FPR = 100 - AUROC
  // Per-model reports are links, not frames.
  CHECK(h.find("<iframe") == std::string::npos);
  CHECK(h.find("<a href='seed2/ish_finetune/report.html'>seed 2</a>") != std::string::npos);
  CHECK(h.find("did not consistently help SCALE on near-OOD") != std::string::npos);
}

TEST_CASE("axis: nice ticks and engineering-notation labels") {
  CHECK(util::nice_ticks(0, 1).size() == 6);
  CHECK(util::tick_labels(util::nice_ticks(0, 1)) == std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1.0"});
  // ViM-sized scores: one exponent for the axis, a multiple of 3.
  std::vector<double> t = util::nice_ticks(-151642074775552.0, 1e12);
  CHECK(util::tick_labels(t) == std::vector<std::string>{"-150e12", "-100e12", "-50e12", "0"});
  CHECK(util::tick_labels(util::nice_ticks(50, 100)) == std::vector<std::string>{"50", "60", "70", "80", "90", "100"});
  CHECK(util::tick_labels(util::nice_ticks(0.00012, 0.00031)) ==
        std::vector<std::string>{"150e-6", "200e-6", "250e-6", "300e-6"});
  CHECK(util::tick_labels(util::nice_ticks(12000, 47000)) == std::vector<std::string>{"20e3", "30e3", "40e3"});
  CHECK(util::nice_ticks(3, 3) == std::vector<double>{3});
  CHECK(util::tick_labels({0.123}) == std::vector<std::string>{"0.123"});
  CHECK(util::nice_ticks(1, 0).empty());
}

TEST_CASE("eval report: score histograms have an axis title and readable ticks at any scale") {
  eval::PPResult p;
  p.name = "vim";
  p.id_test.conf = {-1.2e13f, -2.0e13f, -3.0e13f};
  eval::DatasetResult d;
  d.split = "near";
  d.name = "ood";
  d.s.conf = {-151642074775552.0f, -9.0e13f, -6.0e13f};
  p.near.push_back(d);
  eval::OutputOptions opt;
  const std::string h = eval::report_html({p}, opt);
  CHECK(h.find("vim score (higher: more in-distribution)") != std::string::npos);
  // Scores span [-1.52e14, -1.2e13]: ticks every 20e12 from -140e12 to -20e12.
  CHECK(h.find(">-140e12<") != std::string::npos);
  CHECK(h.find(">-20e12<") != std::string::npos);
  CHECK(h.find("151642") == std::string::npos);  // no raw fifteen-digit bounds
}

}  // TEST_SUITE
