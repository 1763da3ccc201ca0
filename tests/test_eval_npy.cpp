// .npy output: headers byte-identical to numpy 1.24's, and a file numpy loads back.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "eval/npy.h"
#include "tests/util.h"

using namespace ish;

static std::string bytes_of(const Tensor& t) {
  return std::string((const char*)t.data<uint8_t>(), (size_t)t.numel());
}
static std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST_SUITE("cpu") {
TEST_CASE("eval npy headers match numpy byte for byte") {
  auto T = test::load_fixture("eval_npy.safetensors");
  struct H { const char* name; const char* descr; std::vector<int64_t> shape; };
  const H hs[] = {{"f4_5", "<f4", {5}}, {"i8_0", "<i8", {0}}, {"f8_3x4", "<f8", {3, 4}}, {"f4_scalar", "<f4", {}},
                  {"f4_123456", "<f4", {123456}}, {"i8_big", "<i8", {1000000000000LL}},
                  {"u1_7x1000000000", "|u1", {7, 1000000000}}, {"f4_1x2x3", "<f4", {1, 2, 3}}};
  for (const H& h : hs) {
    std::string want = bytes_of(T.at(std::string("header.") + h.name));
    std::string got = eval::npy_header(h.descr, h.shape);
    CHECK_MESSAGE(got == want, h.name << ": got '" << got << "' want '" << want << "'");
    CHECK(got.size() % 64 == 0);
  }
  std::string dir = test::fixture_dir() + "/tmp_eval_npy";
  std::vector<float> v = {-1, -0.5f, 0, 0.5f, 1};
  eval::write_npy(dir + "/sub/a.npy", v);
  CHECK(slurp(dir + "/sub/a.npy") == bytes_of(T.at("file.f4_5")));
  Tensor back = eval::read_npy(dir + "/sub/a.npy");
  CHECK(back.to_f32_vector() == v);
}

TEST_CASE("eval npy files load in numpy") {
  if (std::system("test -x /usr/bin/python3") != 0) return;  // the byte-level test above still ran
  std::string dir = test::fixture_dir() + "/tmp_eval_npy";
  eval::write_npy(dir + "/i.npy", std::vector<int64_t>{3, -1, 7});
  Tensor m = Tensor::from_f64({1, 2, 3, 4, 5, 6}, {2, 3});
  eval::write_npy(dir + "/m.npy", m);
  std::string cmd = "/usr/bin/python3 -c \"import numpy as np; a=np.load('" + dir + "/i.npy'); b=np.load('" + dir +
                    "/m.npy'); assert a.tolist()==[3,-1,7] and a.dtype==np.int64; assert b.shape==(2,3) and "
                    "b[1,2]==6.0 and b.dtype==np.float64\"";
  CHECK(std::system(cmd.c_str()) == 0);
}
}
