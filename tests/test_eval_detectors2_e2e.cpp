// `ishscale eval --postprocessor all` through the real binary ($ISHSCALE_BIN, default build/ishscale) on the
// small end-to-end benchmark of tools/fixtures_eval.py (real and synthetic JPEGs), with the random resnet18
// of the AdaSCALE fixture: every detector, old and new, runs and writes its CSV; AdaSCALE also writes its
// intermediates beside conf.npy and the fit set's Q'.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "eval/detectors.h"
#include "eval/npy.h"
#include "tests/util.h"

using namespace ish;

namespace {
bool exists2(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval --postprocessor all runs every detector, old and new") {
  const std::string fx = test::fixture_dir(), data = fx + "/eval_e2e/data", out = fx + "/tmp_eval_all";
  const std::string weights = fx + "/eval_adascale_resnet18.safetensors";
  const bool have = exists2(data + "/id_test.txt") && exists2(weights);
  REQUIRE_MESSAGE(have, "missing fixtures (run `make fixtures`)");
  REQUIRE_MESSAGE(exists2(ish::test::ishscale_bin()), "missing " << ish::test::ishscale_bin());
  std::ostringstream cmd;
  cmd << ish::test::ishscale_bin() << " eval --weights " << weights << " --arch resnet18 --device cpu --data-root " << data
      << " --id-test " << data << "/id_test.txt --id-val " << data << "/id_val.txt --ood-val " << data
      << "/ood_val.txt --id-train " << data << "/id_train.txt --near nearA=" << data << "/near_a.txt --far farA=" << data
      << "/far_a.txt --postprocessor all --no-aps --batch-size 4 --threads 2"
      << " --set knn.K=3 --set vim.dim=4 --set nnguide.K=2 --save-score --recompute --no-report --out " << out
      << " > " << out << ".log 2>&1";
  std::system(("rm -rf " + out).c_str());
  const int rc = std::system(cmd.str().c_str());
  std::ifstream lg(out + ".log");
  std::stringstream log;
  log << lg.rdbuf();
  REQUIRE_MESSAGE(rc == 0, "ishscale eval failed:\n" << log.str());
  for (const std::string& n : eval::detector_names()) {
    CHECK_MESSAGE(exists2(out + "/ood/" + n + ".csv"), n);
    CHECK_MESSAGE(exists2(out + "/scores/" + n + "/id/id/conf.npy"), n);  // --id-test's dataset name is "id"
  }
  for (const char* n : {"adascale_a", "adascale_l"}) {
    const std::string d = out + "/scores/" + n;
    REQUIRE_MESSAGE(exists2(d + "/id/id/qprime.npy"), n << ": no qprime.npy beside the ID test conf.npy");
    Tensor q = eval::read_npy(d + "/id/id/qprime.npy"), p = eval::read_npy(d + "/id/id/percentile.npy");
    CHECK(q.dtype() == DType::F32);
    CHECK(p.dtype() == DType::F64);
    CHECK(q.size(0) == 5);
    for (double v : p.to_f64_vector()) {  // the --no-aps pair
      CHECK(v >= 75);
      CHECK(v <= 85);
    }
    CHECK_MESSAGE(exists2(d + "/near/nearA/qprime.npy"), n);
    Tensor fq = eval::read_npy(d + "/fit/id/qprime.npy");  // the ECDF fit set: ID val's 3 images
    CHECK(fq.size(0) == 3);
    CHECK_FALSE(exists2(d + "/id/id/feature_perturbed.npy"));  // only with --save-aux
  }
  MESSAGE(log.str().substr(0, 4000));
}
}
