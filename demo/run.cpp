#include "demo/run.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "demo/data.h"
#include "demo/eval.h"
#include "demo/model.h"
#include "demo/report.h"
#include "demo/results.h"
#include "engine/threads.h"
#include "eval/npy.h"
#include "models/state_dict.h"
#include "util/fs.h"

namespace ish::demo {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int run_demo(const DemoConfig& c) {
  const auto t0 = Clock::now();
  ish::set_threads(c.threads);  // compute and decode together; waiting is passive (engine/threads.h)

  std::printf("ishscale demo: profile '%s' on %s\n%s", c.profile.c_str(), c.device.c_str(), describe(c).c_str());
  for (auto& cut : c.cuts) std::printf("  cut: %s\n", cut.c_str());
  std::fflush(stdout);
  util::make_dirs(c.out);

  DemoData d = build_demo_data(c.paths, c.sizes, c.data_seed);
  std::printf("data: ID train %lld, ID val %lld, ID fit %lld, ID test %lld | near %s %lld | far %s %lld, %s %lld (%zu "
              "faces), %s %lld | OOD val %s %lld (held-out face %s)\n",
              (long long)d.train.size(), (long long)d.id_val.size(), (long long)d.id_fit.size(),
              (long long)d.id_test.size(), d.near.name.c_str(), (long long)d.near.size(), d.mnist.name.c_str(),
              (long long)d.mnist.size(), d.letters.name.c_str(), (long long)d.letters.size(), d.letter_faces.size(),
              d.noise.name.c_str(), (long long)d.noise.size(), d.ood_val.name.c_str(), (long long)d.ood_val.size(),
              d.val_face.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "data built in %.1fs\n", since(t0));

  DemoRun run;
  run.config = c;
  run.faces = d.letter_faces;
  run.val_face = d.val_face;
  for (int seed = 0; seed < c.seeds; seed++) {
    const std::string sdir = c.out + "/seed" + std::to_string(seed);
    // CE from scratch.
    models::ResNet scratch = make_model(c, (uint64_t)seed);
    PhaseResult ps = train_phase(scratch, d, c, c.scratch, false, (uint64_t)seed, "ce_scratch", sdir + "/ce_scratch");
    ModelEval e = evaluate_model(scratch, d, c, "ce_scratch", seed, sdir + "/ce_scratch");
    e.train_seconds = ps.seconds;
    run.evals.push_back(std::move(e));
    // Both fine-tunes start from the scratch checkpoint with the same schedule and seed.
    for (bool ish : {false, true}) {
      const std::string name = ish ? "ish_finetune" : "ce_finetune";
      models::ResNet m = make_model(c, (uint64_t)seed);
      models::LoadOptions lo;
      lo.ignore_prefixes = {"optim."};
      models::load_weights(m, ps.weights, lo);
      PhaseResult pf = train_phase(m, d, c, c.finetune, ish, (uint64_t)seed + 1000, name, sdir + "/" + name);
      ModelEval ef = evaluate_model(m, d, c, name, seed, sdir + "/" + name);
      ef.train_seconds = pf.seconds;
      run.evals.push_back(std::move(ef));
    }
    std::fprintf(stderr, "seed %d of %d done at %.1fs (%.1f CPU seconds)\n", seed + 1, c.seeds, since(t0), cpu_seconds());
  }
  run.wall_seconds = since(t0);
  run.cpu_seconds = cpu_seconds();
  util::atomic_write(c.out + "/results.json", results_json(run, d));
  write_report(run, c.out + "/report.html");
  std::string table = summary_table(run);
  util::atomic_write(c.out + "/summary.txt", table);
  std::printf("\n%s\n", table.c_str());  // the tables over seeds, the paired table and its verdict
  for (auto& cut : c.cuts) std::printf("cut: %s\n", cut.c_str());
  std::printf("wrote %s/{results.json,report.html,summary.txt} and per model seed*/<training>/{ood/*.csv,scores/}\n",
              c.out.c_str());
  std::printf("demo finished in %.1fs (%.1f CPU seconds)\n", since(t0), cpu_seconds());
  return 0;
}

}  // namespace ish::demo
