// Weights: safetensors reader/writer, the pure C++ .pth importer (zip and legacy) against torch's own
// state_dict() and tools/convert_torchvision.py, byte for byte (tools/fixtures_weights.py,
// tools/fixtures_models.py).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>

#include "eval/features.h"
#include "tests/util.h"
#include "weights/load.h"
#include "weights/pickle.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {

std::string fx(const std::string& f) { return test::fixture_dir() + "/" + f; }

// Same names in the same set, and each tensor equal in dtype, shape and every byte.
void check_identical(const weights::StateDict& got, const std::map<std::string, Tensor>& ref, const std::string& what) {
  INFO(what);
  CHECK(got.size() == ref.size());
  for (auto& [name, t] : got) {
    auto it = ref.find(name);
    REQUIRE_MESSAGE(it != ref.end(), "unexpected tensor " << name);
    const Tensor& r = it->second;
    CHECK_MESSAGE(t.dtype() == r.dtype(), name << ": dtype " << dtype_name(t.dtype()) << " vs " << dtype_name(r.dtype()));
    REQUIRE_MESSAGE(t.shape() == r.shape(), name << ": shape " << shape_str(t.shape()) << " vs " << shape_str(r.shape()));
    CHECK_MESSAGE(std::memcmp(t.raw(), r.raw(), t.nbytes()) == 0, name << ": bytes differ");
    CHECK(t.name() == name);
  }
}

std::map<std::string, Tensor> as_map(const weights::StateDict& sd) {
  std::map<std::string, Tensor> m;
  for (auto& kv : sd) m[kv.first] = kv.second;
  return m;
}

// A string literal with embedded NULs.
template <size_t N>
std::string lit(const char (&s)[N]) { return std::string(s, N - 1); }

std::string ishscale_bin() {
  const char* b = std::getenv("ISHSCALE_BIN");
  return b && *b ? b : "build/ishscale";
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("weights: .pth (zip and legacy) gives tensors byte-identical to torch's state_dict") {
  for (std::string stem : {"w_multi", "w_wrapped"}) {
    auto ref = test::load_fixture(stem + "_ref.safetensors");
    for (std::string fmt : {"zip", "legacy"}) {
      std::string pth = fx(stem + "_" + fmt + ".pth");
      CHECK(weights::detect_format(pth) == (fmt == "zip" ? weights::Format::PthZip : weights::Format::PthLegacy));
      weights::StateDict sd = weights::load_any(pth);
      check_identical(sd, ref, pth + " vs torch state_dict");
      check_identical(sd, test::load_fixture(stem + "_" + fmt + "_tv.safetensors"), pth + " vs convert_torchvision.py");
    }
  }
  // File order is kept (torch's state_dict order), and the strided/shared views came out right.
  auto sd = weights::load_pth(fx("w_multi_zip.pth"));
  REQUIRE(sd.size() == 14);
  CHECK(sd[0].first == "conv.weight");
  auto m = as_map(sd);
  CHECK(m["strided.t"].to_f32_vector() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(m["strided.step"].to_f32_vector() == std::vector<float>{1, 4, 7});
  CHECK(m["shared.b"].to_f32_vector() == std::vector<float>{10, 11, 12, 13});
  CHECK(m["bn.num_batches_tracked"].shape().empty());
  CHECK(m["bn.num_batches_tracked"].data<int64_t>()[0] == 17);
}

TEST_CASE("weights: ishscale convert writes what tools/convert_torchvision.py writes") {
  char dir[] = "/tmp/ishscale_wtest_XXXXXX";
  REQUIRE(mkdtemp(dir));
  for (std::string stem : {"w_multi_zip", "w_multi_legacy", "w_wrapped_zip", "w_wrapped_legacy"}) {
    std::string out = std::string(dir) + "/" + stem + ".safetensors";
    std::string cmd = "'" + ishscale_bin() + "' convert '" + fx(stem + ".pth") + "' '" + out + "' >/dev/null";
    int st = std::system(cmd.c_str());
    REQUIRE_MESSAGE((WIFEXITED(st) && WEXITSTATUS(st) == 0), cmd << " failed (set ISHSCALE_BIN?)");
    check_identical(weights::load_safetensors(out), test::load_fixture(stem + "_tv.safetensors"), out);
    CHECK(st::File::open(out).metadata().at("format") == "pt");
    std::remove(out.c_str());
  }
  rmdir(dir);
}

TEST_CASE("weights: torchvision ResNet-18/50 checkpoints convert bit-identically to their state_dict") {
  for (std::string arch : {"resnet18", "resnet50"}) {
    REQUIRE_MESSAGE(test::have_fixture(arch + "_ref.safetensors"),
                    "missing " << fx(arch + "_ref.safetensors") << " (written by tools/fixtures_models.py)");
    auto ref = test::load_fixture(arch + "_ref.safetensors");
    for (std::string f : {arch + ".pth", arch + "_legacy.pth"}) {
      REQUIRE_MESSAGE(test::have_fixture(f), "missing " << fx(f) << " (written by tools/fixtures_models.py)");
      weights::StateDict sd = weights::load_any(fx(f));
      check_identical(sd, ref, fx(f));
      CHECK(as_map(sd).count("bn1.num_batches_tracked") == 1);
    }
  }
}

TEST_CASE("weights: a timm-style safetensors file with num_batches_tracked loads") {
  std::map<std::string, std::string> meta;
  weights::StateDict sd = weights::load_any(fx("w_timm.safetensors"), &meta);
  CHECK(meta["format"] == "pt");
  auto m = as_map(sd);
  REQUIRE(m.count("bn1.num_batches_tracked"));
  CHECK(m["bn1.num_batches_tracked"].dtype() == DType::I64);
  CHECK(m["bn1.num_batches_tracked"].shape().empty());
  CHECK(m["conv1.weight"].shape() == Shape{8, 3, 7, 7});
  CHECK(sd.size() == 8);
}

TEST_CASE("weights: safetensors round trip, all dtypes, module. prefix, reference rules") {
  weights::StateDict sd;
  sd.emplace_back("module.a", Tensor::from_f32({1, 2, 3, 4, 5, 6}, {2, 3}));
  sd.emplace_back("module.n", Tensor::from_i64({42}, {}));
  sd.emplace_back("module.z", Tensor::zeros({0, 4}));
  for (DType dt : {DType::F16, DType::BF16, DType::U8, DType::F64, DType::I32}) {
    Tensor t = Tensor::empty({3}, dt);
    for (size_t i = 0; i < t.nbytes(); i++) ((uint8_t*)t.raw())[i] = (uint8_t)(i * 29 + 1);
    sd.emplace_back(std::string("module.") + dtype_name(dt), t);
  }
  std::string bytes = st::serialize(sd, {{"epoch", "3"}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | (uint8_t)bytes[i];
  CHECK(n % 8 == 0);
  st::File f = st::File::from_bytes("mem", bytes);
  CHECK(f.metadata().at("epoch") == "3");
  for (auto& [name, t] : sd) {
    Tensor g = f.load(name);
    CHECK(g.dtype() == t.dtype());
    CHECK(g.shape() == t.shape());
    CHECK(std::memcmp(g.raw(), t.raw(), t.nbytes()) == 0);
  }
  // On disk, load_any strips the DDP prefix shared by every key.
  char path[] = "/tmp/ishscale_wrt_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  st::save(path, sd);
  weights::StateDict back = weights::load_any(path);
  std::remove(path);
  REQUIRE(back.size() == sd.size());
  CHECK(as_map(back).count("a") == 1);
  CHECK(as_map(back)["n"].data<int64_t>()[0] == 42);
  // Writer refuses what the reader would refuse.
  weights::StateDict dup = {{"x", Tensor::zeros({1})}, {"x", Tensor::zeros({1})}};
  CHECK_THROWS_AS(st::serialize(dup), Error);
  weights::StateDict reserved = {{"__metadata__", Tensor::zeros({1})}};
  CHECK_THROWS_AS(st::serialize(reserved), Error);
}

TEST_CASE("weights: the unpickler refuses code and never runs it") {
  auto parse = [](const std::string& p) {
    size_t pos = 0;
    return weights::pkl::unpickle("test", (const uint8_t*)p.data(), p.size(), &pos);
  };
  // os.system('true') as pickle.dumps writes it on Linux (posix.system) and spelled os.system.
  for (std::string mod : {"posix", "os"}) {
    std::string sys = "\x80\x02" "c" + mod + lit("\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.");
    try {
      parse(sys);
      FAIL("os.system was accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("refusing global " + mod + ".system") != std::string::npos);
      CHECK(e.code == 2);
    }
  }
  CHECK_THROWS_AS(parse("\x80\x02" "cbuiltins\neval\n."), Error);
  CHECK_THROWS_AS(parse("\x80\x02" "ctorch\nFloatStorage\n)R."), Error);  // a storage type is not callable
  // A list that contains itself (memo) parses without leaking; it is not a state dict.
  auto p = parse(lit("\x80\x02]q\x00h\x00" "a."));
  CHECK(p.at(p.root).kind == weights::pkl::Kind::List);
  CHECK_THROWS_AS(weights::state_dict_from_pickle("test", p, nullptr, 1 << 20), Error);
  // Truncated, stack underflow, unknown memo, bad opcode.
  CHECK_THROWS_AS(parse("\x80\x02]"), Error);
  CHECK_THROWS_AS(parse("a."), Error);
  CHECK_THROWS_AS(parse("h\x05."), Error);
  CHECK_THROWS_AS(parse("\xff."), Error);
}

TEST_CASE("weights: load_any hashes the bytes it maps, as eval's file_hash (no second read)") {
  for (const std::string f : {"resnet18_ref.safetensors", "resnet18.pth", "resnet18_legacy.pth"}) {
    INFO(f);
    REQUIRE_MESSAGE(test::have_fixture(f), "missing " << fx(f) << " (written by tools/fixtures_models.py)");
    std::string seen;
    const weights::StateDict sd = weights::load_any(fx(f), nullptr, &seen);
    CHECK(!sd.empty());
    CHECK(seen == eval::file_hash(fx(f)));
  }
}

}  // TEST_SUITE
