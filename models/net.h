// models::Net: the one interface the commands and eval/ see for an image classifier, whatever its
// family (ResNet, VisionTransformer, SwinTransformer): forward -> {logits, features}, the linear head's
// tensors, device/dtype moves and the state visitor. The models themselves stay plain classes (no
// virtuals: fuzz/ stubs ResNet); NetOf<M> adapts one, holding it by value (NetOf<M>) or by reference
// (NetOf<M&>, for a caller that owns its model). Another family adds a NetTraits specialisation and its
// cases in models/zoo.cpp.
//
//   std::unique_ptr<Net> n = models::wrap(VisionTransformer::create("vit_b_16"));
//   auto v = models::view(resnet);   // a Net& over a ResNet the caller keeps
//   Net::Output o = n->forward(x);   // logits [N,classes], features [N,feature_dim]: the head's input
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "models/resnet.h"
#include "models/swin.h"
#include "models/vit.h"

namespace ish::models {

class Net {
 public:
  struct Output {
    Tensor logits;    // [N, num_classes]
    Tensor features;  // [N, feature_dim]: the input of the linear head (ResNet: non-negative; transformers: signed)
  };
  virtual ~Net() = default;

  virtual Output forward(const Tensor& x) = 0;  // x [N,H,W,3] of the model's dtype, on its device
  virtual const std::string& arch() const = 0;
  virtual const char* family() const = 0;        // "resnet", "vit", "swin"
  virtual int num_classes() const = 0;
  virtual int feature_dim() const = 0;
  // The one square input size the model accepts (a ViT's position embedding fixes it); 0: any size.
  virtual int input_size() const = 0;
  virtual int width() const = 0;  // a ResNet's stem width; 0 for the others

  virtual Device device() const = 0;
  virtual void to(Device dev) = 0;
  virtual DType dtype() const = 0;
  virtual void to(DType dt) = 0;
  virtual void train(bool on = true) = 0;
  void eval() { train(false); }
  virtual bool training() const = 0;

  // Every state entry in torchvision's state_dict order, as live handles (our layout).
  virtual void visit(const std::function<void(const std::string& name, Tensor& t, EntryKind kind)>& fn) = 0;
  virtual NamedTensors named_parameters() = 0;
  virtual void zero_grad() = 0;

  // The linear head: "fc" (ResNet), "heads.head" (ViT), "head" (Swin); weight [classes, feature_dim], bias [classes].
  virtual const char* head_name() const = 0;
  Tensor head_weight() { return head_entry(".weight"); }
  Tensor head_bias() { return head_entry(".bias"); }

 private:
  Tensor head_entry(const char* suffix);
};

// What the adapter needs to know of a model class beyond the shared member names.
template <class M>
struct NetTraits;
template <>
struct NetTraits<ResNet> {
  static constexpr const char* family = "resnet";
  static constexpr const char* head = "fc";
  static int input_size(const ResNet&) { return 0; }
  static int width(const ResNet& m) { return m.config().width; }
};
template <>
struct NetTraits<VisionTransformer> {
  static constexpr const char* family = "vit";
  static constexpr const char* head = "heads.head";
  static int input_size(const VisionTransformer& m) { return m.config().image_size; }
  static int width(const VisionTransformer&) { return 0; }
};

template <>
struct NetTraits<SwinTransformer> {
  static constexpr const char* family = "swin";
  static constexpr const char* head = "head";
  static int input_size(const SwinTransformer&) { return 0; }  // windows pad: any size of at least one patch
  static int width(const SwinTransformer&) { return 0; }
};

// H is the model class (held by value) or a reference to it (held by reference).
template <class H>
class NetOf final : public Net {
 public:
  using M = std::remove_reference_t<H>;
  using T = NetTraits<M>;
  explicit NetOf(H m) : m_(std::forward<H>(m)) {}

  M& model() { return m_; }
  Output forward(const Tensor& x) override {
    auto o = m_.forward(x);
    return {o.logits, o.features};
  }
  const std::string& arch() const override { return m_.arch(); }
  const char* family() const override { return T::family; }
  int num_classes() const override { return m_.num_classes(); }
  int feature_dim() const override { return m_.feature_dim(); }
  int input_size() const override { return T::input_size(m_); }
  int width() const override { return T::width(m_); }
  Device device() const override { return m_.device(); }
  void to(Device dev) override { m_.to(dev); }
  DType dtype() const override { return m_.dtype(); }
  void to(DType dt) override { m_.to(dt); }
  void train(bool on = true) override { m_.train(on); }
  bool training() const override { return m_.training(); }
  void visit(const std::function<void(const std::string&, Tensor&, EntryKind)>& fn) override { m_.visit(fn); }
  NamedTensors named_parameters() override { return m_.named_parameters(); }
  void zero_grad() override { m_.zero_grad(); }
  const char* head_name() const override { return T::head; }

 private:
  H m_;
};

// An owning Net over a model (moved in).
template <class M>
std::unique_ptr<Net> wrap(M m) {
  return std::make_unique<NetOf<M>>(std::move(m));
}
// A Net over a model the caller owns and keeps alive.
template <class M>
NetOf<M&> view(M& m) {
  return NetOf<M&>(m);
}

}  // namespace ish::models
