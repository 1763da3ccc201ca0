// The fuzz targets link only weights/ and the tensor core; Tensor::backward() needs the autograd
// engine, which in turn needs every op. The weights code never calls it, so it is stubbed here.
#include <cstdlib>

#include "engine/autograd.h"

namespace ish::autograd {
void backward(const Tensor&) { std::abort(); }
}  // namespace ish::autograd
