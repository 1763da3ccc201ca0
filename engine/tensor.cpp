#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/device.h"

namespace ish {

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}
int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    ISH_CHECK(d >= 0, "negative dimension in shape ", shape_str(s));
    n *= d;
  }
  return n;
}

Storage::Storage(size_t b, Device dev) : bytes(b), device(dev) {
  if (dev == Device::CPU) {
    // 64-byte aligned so BLAS and vector loads are happy; at least one byte so ptr is unique.
    ptr = std::aligned_alloc(64, ((b + 63) / 64) * 64 + 64);
    ISH_CHECK(ptr, "out of host memory allocating ", b, " bytes");
  } else {
    ptr = dev::cuda_malloc(b);
  }
}
Storage::~Storage() {
  if (device == Device::CPU) std::free(ptr);
  else dev::cuda_free(ptr, bytes);
}

static const Tensor& undefined_tensor() { static Tensor t; return t; }
static const std::string& empty_name() { static std::string s; return s; }

Tensor Tensor::empty(const Shape& shape, DType dt, Device dev) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dt;
  impl->storage = std::make_shared<Storage>((size_t)shape_numel(shape) * itemsize(dt), dev);
  return Tensor(impl);
}
Tensor Tensor::zeros(const Shape& shape, DType dt, Device dev) {
  Tensor t = empty(shape, dt, dev);
  t.zero_();
  return t;
}
Tensor Tensor::full(const Shape& shape, double v, DType dt, Device dev) {
  Tensor t = empty(shape, dt, dev);
  t.fill_(v);
  return t;
}
template <class T>
static Tensor from_vec(const std::vector<T>& v, const Shape& shape) {
  ISH_CHECK((int64_t)v.size() == shape_numel(shape), "from_vector: ", v.size(), " values for shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>::value);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t;
}
Tensor Tensor::from_f32(const std::vector<float>& v, const Shape& s) { return from_vec(v, s); }
Tensor Tensor::from_f64(const std::vector<double>& v, const Shape& s) { return from_vec(v, s); }
Tensor Tensor::from_i64(const std::vector<int64_t>& v, const Shape& s) { return from_vec(v, s); }

const Shape& Tensor::shape() const { ISH_ASSERT(impl_, "undefined tensor"); return impl_->shape; }
int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  ISH_CHECK(d >= 0 && d < n, "tensor ", name(), ": dim ", d, " out of range for shape ", shape_str(shape()));
  return shape()[d];
}
int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { ISH_ASSERT(impl_, "undefined tensor"); return impl_->dtype; }
Device Tensor::device() const { ISH_ASSERT(impl_, "undefined tensor"); return impl_->storage->device; }
void* Tensor::raw() { ISH_ASSERT(impl_, "undefined tensor"); return (char*)impl_->storage->ptr + impl_->offset; }
const void* Tensor::raw() const { return const_cast<Tensor*>(this)->raw(); }

void Tensor::copy_(const Tensor& src) {
  ISH_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_: ", name(), " ", shape_str(shape()), " ",
            dtype_name(dtype()), " <- ", shape_str(src.shape()), " ", dtype_name(src.dtype()));
  dev::copy(raw(), device(), src.raw(), src.device(), nbytes());
}
Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor t = empty(shape(), dtype(), d);
  t.copy_(*this);
  return t;
}
Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  t.copy_(*this);
  return t;
}
void Tensor::zero_() { dev::memset0(raw(), device(), nbytes()); }

static double load_as_f64(const void* p, DType dt, int64_t i) {
  switch (dt) {
    case DType::F32: return ((const float*)p)[i];
    case DType::F64: return ((const double*)p)[i];
    case DType::BF16: return bf16_to_f32(((const uint16_t*)p)[i]);
    case DType::F16: return f16_to_f32(((const uint16_t*)p)[i]);
    case DType::I64: return (double)((const int64_t*)p)[i];
    case DType::I32: return ((const int32_t*)p)[i];
    case DType::U8: return ((const uint8_t*)p)[i];
  }
  return 0;
}
static void store_f64(void* p, DType dt, int64_t i, double v) {
  switch (dt) {
    case DType::F32: ((float*)p)[i] = (float)v; break;
    case DType::F64: ((double*)p)[i] = v; break;
    case DType::BF16: ((uint16_t*)p)[i] = f32_to_bf16((float)v); break;
    case DType::F16: ((uint16_t*)p)[i] = f32_to_f16((float)v); break;
    case DType::I64: ((int64_t*)p)[i] = (int64_t)v; break;
    case DType::I32: ((int32_t*)p)[i] = (int32_t)v; break;
    case DType::U8: ((uint8_t*)p)[i] = (uint8_t)v; break;
  }
}

void Tensor::fill_(double v) {
  if (is_cuda() && dtype() == DType::F32) {  // on the device: no host staging, no sync
    device_backend(device(), "fill_").fill(*this, v);
    return;
  }
  Tensor h = is_cuda() ? empty(shape(), dtype()) : *this;
  for (int64_t i = 0, n = numel(); i < n; i++) store_f64(h.raw(), dtype(), i, v);
  if (is_cuda()) copy_(h);
}
Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor h = to(Device::CPU);
  Tensor r = empty(shape(), dt);
  const int64_t n = numel();
  if (dtype() == DType::F32 && dt == DType::F64) {
    for (int64_t i = 0; i < n; i++) r.data<double>()[i] = h.data<float>()[i];
  } else {
    for (int64_t i = 0; i < n; i++) store_f64(r.raw(), dt, i, load_as_f64(h.raw(), dtype(), i));
  }
  return r.to(device());
}
std::vector<float> Tensor::to_f32_vector() const {
  Tensor h = to(Device::CPU);
  std::vector<float> v((size_t)numel());
  for (size_t i = 0; i < v.size(); i++) v[i] = (float)load_as_f64(h.raw(), dtype(), (int64_t)i);
  return v;
}
std::vector<double> Tensor::to_f64_vector() const {
  Tensor h = to(Device::CPU);
  std::vector<double> v((size_t)numel());
  for (size_t i = 0; i < v.size(); i++) v[i] = load_as_f64(h.raw(), dtype(), (int64_t)i);
  return v;
}
double Tensor::item() const {
  ISH_CHECK(numel() == 1, "item(): tensor ", name(), " has shape ", shape_str(shape()));
  return to_f64_vector()[0];
}

Tensor Tensor::view(const Shape& s) const {
  ISH_CHECK(shape_numel(s) == numel(), "view: cannot view ", shape_str(shape()), " as ", shape_str(s));
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->shape = s;
  impl->grad_fn.reset();
  impl->grad = Tensor();
  impl->requires_grad = false;
  return Tensor(impl);
}
Tensor Tensor::narrow0(int64_t start, int64_t len) const {
  ISH_CHECK(dim() >= 1 && start >= 0 && len >= 0 && start + len <= shape()[0], "narrow0: [", start, ",", start + len,
            ") out of range for ", shape_str(shape()));
  Shape s = shape();
  int64_t row = numel() / std::max<int64_t>(1, s[0]);
  s[0] = len;
  Tensor t = view(shape());
  t.impl_->shape = s;
  t.impl_->offset += (size_t)(start * row) * itemsize(dtype());
  return t;
}
Tensor Tensor::detach() const { return view(shape()); }

bool Tensor::sole_owner() const {
  return impl_ && impl_.use_count() == 1 && impl_->storage.use_count() == 1 && impl_->offset == 0 &&
         impl_->storage->bytes == nbytes() && !impl_->requires_grad && !impl_->grad_fn && !impl_->grad.defined();
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }
Tensor& Tensor::set_requires_grad(bool r) { impl_->requires_grad = r; return *this; }
const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}
void Tensor::set_grad_fn(std::shared_ptr<Node> fn) { impl_->grad_fn = std::move(fn); }
Tensor& Tensor::grad() { return impl_->grad; }
const Tensor& Tensor::grad() const { return impl_ ? impl_->grad : undefined_tensor(); }
void Tensor::backward() const { autograd::backward(*this); }
const std::string& Tensor::name() const { return impl_ ? impl_->name : empty_name(); }
Tensor& Tensor::set_name(const std::string& n) { impl_->name = n; return *this; }

void check_shape(const Tensor& t, const Shape& want, const char* what) {
  ISH_CHECK(t.defined(), what, ": tensor is undefined");
  ISH_CHECK(t.shape() == want, what, ": tensor ", t.name(), " has shape ", shape_str(t.shape()), ", expected ",
            shape_str(want));
}
void check_same_device(const Tensor& a, const Tensor& b, const char* what) {
  ISH_CHECK(a.device() == b.device(), what, ": tensors on different devices (", device_name(a.device()), " vs ",
            device_name(b.device()), ")");
}

}  // namespace ish
