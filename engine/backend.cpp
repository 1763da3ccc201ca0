// The backend registry and the defaults of the table: a kernel a backend lacks is a one-line error.
#include "engine/backend.h"

namespace ish {

namespace {
// Zero-initialised before any constructor runs, so registration order at start-up cannot matter.
Backend* g_backends[2] = {nullptr, nullptr};
}  // namespace

Backend* find_backend(Device dev) { return g_backends[(int)dev]; }

void register_backend(Device dev, Backend* b) {
  ISH_ASSERT(dev != Device::CPU, "the CPU table is built in");
  g_backends[(int)dev] = b;
}

Backend& device_backend(Device dev, const char* op) {
  Backend* b = find_backend(dev);
  ISH_CHECK(b, op, ": the tensor is on ", device_name(dev), " but this build has no ", device_name(dev),
            " backend (nvcc or cuDNN not found at build time, or CUDA=0)");
  return *b;
}

void Backend::unsupported(const char* op) const {
  fail(op, ": not implemented on ", name(), " (move the tensors to the CPU with .to(Device::CPU))");
}

void* Backend::alloc(size_t) { unsupported("alloc"); }
void Backend::free(void*, size_t) { unsupported("free"); }
void Backend::copy(void*, Device, const void*, Device, size_t) { unsupported("copy"); }
void Backend::memset0(void*, size_t) { unsupported("memset0"); }
void Backend::fill(Tensor&, double) { unsupported("fill"); }

void Backend::gemm(bool, bool, int64_t, int64_t, int64_t, const Tensor&, int64_t, const Tensor&, int64_t, double,
                   Tensor&, int64_t) { unsupported("gemm"); }
void Backend::conv2d_fwd(const ConvDims&, const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  unsupported("conv2d");
}
void Backend::conv2d_bwd_data(const ConvDims&, const Tensor&, const Tensor&, Tensor&) {
  unsupported("conv2d backward");
}
void Backend::conv2d_bn_eval_fwd(const ConvDims&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                                 const Tensor&, const Tensor&, const Tensor&, bool, Tensor&) {
  unsupported("conv2d_bn_eval_fwd");
}
void Backend::conv2d_bwd_filter(const ConvDims&, const Tensor&, const Tensor&, Tensor&, Tensor&) {
  unsupported("conv2d backward");
}
void Backend::bn_train_fwd(int64_t, int64_t, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double,
                           double, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&) { unsupported("batch_norm"); }
void Backend::bn_eval_fwd(int64_t, int64_t, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double,
                          const Tensor&, const Tensor&, Tensor&) { unsupported("batch_norm"); }
void Backend::bn_eval_stats(int64_t, const Tensor&, const Tensor&, double, Tensor&, Tensor&) {
  unsupported("batch_norm backward (eval statistics)");
}
void Backend::bn_bwd(int64_t, int64_t, bool, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&) {
  unsupported("batch_norm backward");
}
void Backend::maxpool_fwd(const PoolDims&, const Tensor&, Tensor&, Tensor&) { unsupported("max_pool2d"); }
void Backend::maxpool_bwd(const PoolDims&, const Tensor&, const Tensor&, Tensor&) {
  unsupported("max_pool2d backward");
}
void Backend::gap_fwd(int64_t, int64_t, int64_t, const Tensor&, Tensor&) { unsupported("global_avg_pool"); }
void Backend::gap_bwd(int64_t, int64_t, int64_t, const Tensor&, Tensor&) { unsupported("global_avg_pool backward"); }
void Backend::cross_entropy_fwd(const Tensor&, const Tensor&, double, Tensor&, Tensor&) {
  unsupported("cross_entropy");
}
void Backend::cross_entropy_bwd(const Tensor&, const Tensor&, double, const Tensor&, Tensor&) {
  unsupported("cross_entropy backward");
}

void Backend::unary(UnaryOp, const Tensor&, Tensor&) { unsupported("unary element-wise op"); }
void Backend::relu_bwd(const Tensor&, const Tensor&, Tensor&) { unsupported("relu backward"); }
void Backend::binary(BinaryOp, const Tensor&, const Tensor&, Tensor&) { unsupported("binary element-wise op"); }
void Backend::axpy(double, const Tensor&, Tensor&) { unsupported("add_"); }
void Backend::scale_shift(const Tensor&, double, double, Tensor&) { unsupported("scale/shift"); }
void Backend::clamp_max(const Tensor&, double, Tensor&) { unsupported("clamp_max"); }
void Backend::clamp_max_bwd(const Tensor&, double, const Tensor&, Tensor&) { unsupported("clamp_max backward"); }

void Backend::row_sum(const Tensor&, Tensor&) { unsupported("sum_last"); }
void Backend::row_broadcast(const Tensor&, Tensor&) { unsupported("sum_last backward"); }
void Backend::row_argmax(const Tensor&, Tensor&) { unsupported("argmax_last"); }
void Backend::row_gather(const Tensor&, const Tensor&, Tensor&) { unsupported("max_last"); }
void Backend::row_scatter(const Tensor&, const Tensor&, Tensor&) { unsupported("max_last backward"); }
void Backend::row_logsumexp(const Tensor&, Tensor&) { unsupported("logsumexp_last"); }
void Backend::row_logsumexp_bwd(const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  unsupported("logsumexp_last backward");
}
void Backend::log_softmax(const Tensor&, Tensor&) { unsupported("log_softmax_last"); }
void Backend::log_softmax_bwd(const Tensor&, const Tensor&, Tensor&) { unsupported("log_softmax_last backward"); }
void Backend::softmax_bwd(const Tensor&, const Tensor&, Tensor&) { unsupported("softmax_last backward"); }

void Backend::gemm_batched(bool, bool, int64_t, int64_t, int64_t, int64_t, const Tensor&, int64_t, int64_t,
                           const Tensor&, int64_t, int64_t, double, Tensor&, int64_t, int64_t) {
  unsupported("bmm");
}
void Backend::layer_norm_fwd(int64_t, int64_t, const Tensor&, const Tensor&, const Tensor&, double, Tensor&, Tensor&,
                             Tensor&) { unsupported("layer_norm"); }
void Backend::layer_norm_bwd(int64_t, int64_t, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                             const Tensor&, Tensor&, Tensor&, Tensor&) { unsupported("layer_norm backward"); }
void Backend::gelu(const Tensor&, Tensor&) { unsupported("gelu"); }
void Backend::gelu_bwd(const Tensor&, const Tensor&, Tensor&) { unsupported("gelu backward"); }
void Backend::softmax(const Tensor&, Tensor&) { unsupported("softmax_last"); }
void Backend::attn_softmax(const Tensor&, double, const Tensor&, const Tensor&, Tensor&) {
  unsupported("attention_softmax");
}
void Backend::permute(const Tensor&, const std::vector<int>&, Tensor&) { unsupported("permute"); }
void Backend::copy_blocks(int64_t, int64_t, const Tensor&, int64_t, int64_t, Tensor&, int64_t, int64_t) {
  unsupported("narrow/cat/expand0");
}
void Backend::col_sum(const Tensor&, Tensor&) { unsupported("expand0 backward"); }
void Backend::index_select0(const Tensor&, const Tensor&, Tensor&) { unsupported("index_select0"); }
void Backend::index_add0(const Tensor&, const Tensor&, Tensor&) { unsupported("index_select0 backward"); }

void Backend::ish_shape(const Tensor&, int64_t, ops::IshStrategy, Tensor&) { unsupported("ish_shape"); }
void Backend::sgd_update(const std::vector<ops::SgdParam>&, const ops::SgdHyper&, bool) {
  unsupported("sgd_update_");
}
void Backend::train_stats(const Tensor&, const Tensor&, const Tensor&, int64_t, Tensor&) {
  unsupported("train_stats_");
}
void Backend::normalize_u8(const Tensor&, const std::array<float, 3>&, const std::array<float, 3>&, Tensor&) {
  unsupported("normalize_u8");
}

}  // namespace ish
