// evaluate() when a detector cannot run (it is listed, the others still run) and when ID labels are
// not classes of the model (refused, never a silently wrong ACC); check_lists() naming every problem.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "engine/error.h"
#include "eval/benchmark.h"
#include "eval/run.h"
#include "tests/util.h"

using namespace ish;

namespace {
eval::NamedSet named(const std::map<std::string, Tensor>& T, const std::string& name, const std::string& key) {
  eval::NamedSet s;
  s.name = name;
  s.f = {T.at(key + ".logits"), T.at(key + ".features"), T.at(key + ".labels")};
  return s;
}
eval::EvalInputs toy_inputs(const std::map<std::string, Tensor>& T) {
  eval::EvalInputs in;
  in.fc = {T.at("fc.W"), T.at("fc.b")};
  in.id_test = named(T, "toy", "test");
  in.id_train = named(T, "train", "train");
  in.near = {named(T, "oodA", "ood")};
  return in;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval evaluate: a failing detector is listed and skipped; without the list its error propagates") {
  auto T = test::load_fixture("eval_detectors.safetensors");
  eval::EvalInputs in = toy_inputs(T);
  eval::EvalConfig cfg;
  cfg.postprocessors = {"msp", "knn", "ebo"};
  cfg.fixed["knn"] = {{"K", 1e6}};  // far above the ID-train bank
  std::vector<std::string> lines;
  cfg.log = [&](const std::string& s) { lines.push_back(s); };
  std::vector<eval::DetectorFailure> failed;
  auto res = eval::evaluate(in, cfg, eval::make_detectors(cfg.postprocessors, in.fc, nullptr), &failed);
  REQUIRE(res.size() == 2);
  CHECK(res[0].name == "msp");
  CHECK(res[1].name == "ebo");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].name == "knn");
  CHECK(failed[0].reason.find("exceeds") != std::string::npos);
  int failure_lines = 0;
  for (auto& l : lines) failure_lines += l.rfind("knn: failed: ", 0) == 0;
  CHECK(failure_lines == 1);
  CHECK_THROWS_WITH_AS(eval::evaluate(in, cfg), doctest::Contains("exceeds"), Error);
}

TEST_CASE("eval evaluate: ID labels outside [0, classes) are refused; near-only results have no far mean") {
  auto T = test::load_fixture("eval_detectors.safetensors");
  eval::EvalInputs in = toy_inputs(T);
  eval::EvalConfig cfg;
  cfg.postprocessors = {"msp"};
  std::vector<std::string> lines;
  cfg.log = [&](const std::string& s) { lines.push_back(s); };
  auto ok = eval::evaluate(in, cfg);
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].far.empty());
  CHECK(eval::openood_csv(ok[0]).find("farood") == std::string::npos);
  for (auto& l : lines) CHECK_MESSAGE(l.find("far AUROC") == std::string::npos, l);
  const int64_t C = in.fc.W.size(0);
  Tensor y = in.id_test.f.labels.clone();
  y.data<int64_t>()[3] = C;  // one past the last class
  in.id_test.f.labels = y;
  const std::string want = "first: row 3 (label " + std::to_string(C) + ")";
  CHECK_THROWS_WITH_AS(eval::evaluate(in, cfg), doctest::Contains(want.c_str()), Error);
}

TEST_CASE("eval check_lists: every problem at once, lists relative to where they are named") {
  char t[] = "/tmp/ishscale_lists_XXXXXX";
  REQUIRE(mkdtemp(t) != nullptr);
  const std::string d = t;
  REQUIRE(mkdir((d + "/img").c_str(), 0755) == 0);
  std::ofstream(d + "/img/a.jpg") << "x";
  std::ofstream(d + "/id.txt") << "a.jpg 0\na.jpg 7\na.jpg -1\n";
  std::ofstream(d + "/bad.txt") << "a.jpg 0\n\na.jpg 1\n";  // a blank line in the middle
  std::ofstream(d + "/ood.txt") << "a.jpg -1\nb.jpg -1\n";
  auto chk = [&](const std::string& key, const std::string& list, const std::string& root, bool id) {
    return eval::ListCheck{key, {key, list, root}, id, nullptr};
  };
  std::vector<std::string> problems;
  auto lists = eval::check_lists({chk("id_test/id", d + "/id.txt", d + "/img", true),
                                  chk("near/bad", d + "/bad.txt", d + "/img", false),
                                  chk("near/gone", d + "/gone.txt", d + "/img", false),
                                  chk("far/o", d + "/ood.txt", d + "/img", false),
                                  chk("far/x", d + "/ood.txt", d + "/nowhere", false)},
                                 5, &problems);
  REQUIRE_MESSAGE(problems.size() == 5, problems.size());
  CHECK(problems[0] == "image folder not found: " + d + "/nowhere (for far/x)");
  CHECK(problems[1] == "id_test/id: 2 of 3 labels lie outside [0, 5) (the model's classes); first " + d + "/id.txt:2 (label 7)");
  CHECK(problems[2].find("near/bad: ") == 0);
  CHECK(problems[2].find("bad.txt:2") != std::string::npos);
  CHECK(problems[3] == "near/gone: list file not found: " + d + "/gone.txt");
  CHECK(problems[4] == "far/o: 1 of 2 sampled images missing, first " + d + "/img/b.jpg (" + d + "/ood.txt:2)");
  CHECK(lists.count("id_test/id"));
  CHECK(lists.count("far/x"));
  std::system(("rm -rf '" + d + "'").c_str());
}
}
