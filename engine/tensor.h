// Tensor: a contiguous, row-major n-d array on one device, shared by reference.
// Activations are NHWC; conv weights are KRSC internally (torchvision files are KCRS).
// Views (reshape, narrow along dim 0) share storage; everything else allocates.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/error.h"

namespace ish {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// Owns one allocation (host memory, or a block from the device allocator).
struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  Storage(size_t bytes, Device dev);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;  // autograd node, engine/autograd.h
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  static Tensor empty(const Shape& shape, DType dt = DType::F32, Device dev = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dt = DType::F32, Device dev = Device::CPU);
  static Tensor full(const Shape& shape, double v, DType dt = DType::F32, Device dev = Device::CPU);
  static Tensor from_f32(const std::vector<float>& v, const Shape& shape);
  static Tensor from_f64(const std::vector<double>& v, const Shape& shape);
  static Tensor from_i64(const std::vector<int64_t>& v, const Shape& shape);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return (int64_t)shape().size(); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return (size_t)numel() * itemsize(dtype()); }
  bool is_cuda() const { return device() == Device::CUDA; }

  void* raw();
  const void* raw() const;
  // Typed pointer; checks the dtype matches T.
  template <class T> T* data();
  template <class T> const T* data() const;

  // Copies / conversions (always new storage unless nothing changes).
  Tensor to(Device dev) const;
  Tensor to(DType dt) const;
  Tensor clone() const;
  void copy_(const Tensor& src);  // same shape+dtype, any devices
  void zero_();
  void fill_(double v);
  std::vector<float> to_f32_vector() const;  // any float dtype, any device
  std::vector<double> to_f64_vector() const;
  double item() const;  // one-element tensor as double

  // Views sharing storage (no autograd: use ops::reshape for a differentiable view).
  Tensor view(const Shape& shape) const;
  Tensor narrow0(int64_t start, int64_t len) const;
  Tensor detach() const;  // same storage, no grad_fn, requires_grad false

  // Autograd.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool r);
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> fn);
  Tensor& grad();  // accumulated gradient of a leaf (undefined until backward reaches it)
  const Tensor& grad() const;
  void backward() const;  // this must be a one-element tensor; seeds d(this)=1

  // Optional name used in error messages ("layer1.0.conv1.weight").
  const std::string& name() const;
  Tensor& set_name(const std::string& n);

  TensorImpl* impl() const { return impl_.get(); }
  // True when this handle is the tensor's only one and the tensor the only user of all its storage (no
  // view, no detached alias, no autograd state): its memory may then be taken over instead of copied.
  bool sole_owner() const;
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes into storage
  Shape shape;
  DType dtype = DType::F32;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  Tensor grad;
  std::string name;
};

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct dtype_of<uint16_t> { static constexpr DType value = DType::BF16; };

template <class T> T* Tensor::data() {
  ISH_CHECK(dtype() == dtype_of<T>::value || (sizeof(T) == 2 && itemsize(dtype()) == 2), "tensor ", name(),
            ": dtype ", dtype_name(dtype()), " accessed as ", dtype_name(dtype_of<T>::value));
  return static_cast<T*>(raw());
}
template <class T> const T* Tensor::data() const { return const_cast<Tensor*>(this)->data<T>(); }

// Shape checks with readable messages.
void check_shape(const Tensor& t, const Shape& want, const char* what);
void check_same_device(const Tensor& a, const Tensor& b, const char* what);

}  // namespace ish
