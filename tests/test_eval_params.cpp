// eval/params.h: the text forms of --postprocessor, --set and --near/--far.
#include <doctest/doctest.h>

#include "engine/error.h"
#include "eval/params.h"

using namespace ish;

TEST_SUITE("cpu") {
TEST_CASE("eval params: postprocessor lists") {
  CHECK(eval::parse_postprocessors("msp") == std::vector<std::string>{"msp"});
  CHECK(eval::parse_postprocessors("msp,knn,,vim,") == std::vector<std::string>{"msp", "knn", "vim"});
  CHECK(eval::parse_postprocessors("all") == eval::detector_names());
  CHECK_THROWS_WITH_AS(eval::parse_postprocessors("msp,nope"), doctest::Contains("unknown postprocessor 'nope'"), Error);
  CHECK_THROWS_WITH_AS(eval::parse_postprocessors("knn,knn"), doctest::Contains("listed twice"), Error);
  CHECK_THROWS_AS(eval::parse_postprocessors(""), Error);
  CHECK_THROWS_AS(eval::parse_postprocessors(",,"), Error);
  CHECK_THROWS_AS(eval::parse_postprocessors("MSP"), Error);  // names are case-sensitive, as OpenOOD's
}

TEST_CASE("eval params: --set PP.KEY=VALUE") {
  std::map<std::string, eval::HParams> fixed;
  eval::parse_set("knn.K=100", &fixed);
  eval::parse_set("vim.dim=1000", &fixed);
  eval::parse_set("knn.x=-2.5e-1", &fixed);
  CHECK(fixed.size() == 2);
  CHECK(fixed["knn"] == eval::HParams{{"K", 100}, {"x", -0.25}});
  CHECK(fixed["vim"] == eval::HParams{{"dim", 1000}});
  for (const char* bad : {"knn", "knn.K", "knn=5", ".K=5", "knn.=5", "knn.K=", "knn.K=5x", "knn.K=abc", "knn.K=nan",
                          "knn.K=inf", "knn.K=1e999", "nope.K=5"})
    CHECK_THROWS_AS(eval::parse_set(bad, &fixed), Error);
  CHECK(fixed["knn"].size() == 2);  // failed items add nothing
}

TEST_CASE("eval params: --set takes a word where the key takes one") {
  std::map<std::string, eval::HParams> fixed;
  eval::parse_set("cadref.logit_method=GEN", &fixed);
  eval::parse_set("cadref.logit_method=Energy", &fixed);
  REQUIRE(fixed["cadref"].size() == 2);
  // Each word maps to a distinct value that the detector renders back as the same word.
  const eval::Fc fc{Tensor::zeros({2, 3}), Tensor::zeros({2})};
  auto d = eval::make_detector("cadref", fc);
  CHECK(d->param_word_of("logit_method", fixed["cadref"][0].second) == "GEN");
  CHECK(d->param_word_of("logit_method", fixed["cadref"][1].second) == "Energy");
  CHECK(fixed["cadref"][0].second != fixed["cadref"][1].second);
  CHECK(eval::hparams_str({fixed["cadref"][0]}, *d) == "logit_method=GEN");
  CHECK_THROWS_WITH_AS(eval::parse_set("cadref.logit_method=Softmax", &fixed), doctest::Contains("logit_method"), Error);
  CHECK_THROWS_AS(eval::parse_set("knn.K=many", &fixed), Error);  // a numeric key refuses words
  CHECK(fixed["cadref"].size() == 2);
}

TEST_CASE("eval params: NAME=LIST") {
  eval::ListSpec s = eval::parse_named_list("ssb_hard=lists/test_ssb_hard.txt", "/data", "--near");
  CHECK(s.name == "ssb_hard");
  CHECK(s.list == "lists/test_ssb_hard.txt");  // the list as given (working directory); images under root
  CHECK(s.root == "/data");
  CHECK(eval::parse_named_list("a=/abs/list.txt", "/data", "--far").list == "/abs/list.txt");
  for (const char* bad : {"", "name", "=list.txt", "name="})
    CHECK_THROWS_WITH_AS(eval::parse_named_list(bad, "/data", "--far"), doctest::Contains("--far wants NAME=LIST"), Error);
}
}
