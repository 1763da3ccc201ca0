// libFuzzer target: the .pth importer on arbitrary bytes, twice: as a whole checkpoint (zip or
// legacy, chosen by the first bytes) and as a bare data.pkl whose storages are served from a zero
// buffer of the declared size. It must accept or throw ish::Error, never crash, leak or hit UB.
#include <cstdint>
#include <string>
#include <vector>

#include "weights/pickle.h"
#include "weights/pth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ish::weights::load_pth_bytes("fuzz", data, size, 1 << 22);  // small cap: keeps executions fast
  } catch (const ish::Error&) {
  }
  try {
    size_t pos = 0;
    ish::weights::pkl::Pickle p = ish::weights::pkl::unpickle("fuzz.pkl", data, size, &pos);
    static std::vector<uint8_t> zeros(1 << 20);
    auto storage = [&](const std::string& key) -> std::pair<const uint8_t*, uint64_t> {
      for (auto& s : p.storages)
        if (s.key == key) {
          uint64_t bytes = s.root_numel * ish::itemsize(s.dtype);
          ISH_CHECK(s.root_numel <= zeros.size() && bytes <= zeros.size(), "fuzz: storage too large");
          return {zeros.data(), bytes};
        }
      ish::fail("fuzz: no storage ", key);
    };
    ish::weights::state_dict_from_pickle("fuzz.pkl", p, storage, 1 << 22);
  } catch (const ish::Error&) {
  }
  return 0;
}
