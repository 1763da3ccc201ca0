// A loader batch as the model's input: an NHWC F32 tensor on the model's device.
//  - F32 batches (normalised on the host) are copied into a tensor and uploaded.
//  - U8 batches for a device model: the bytes go up and ops::normalize_u8 normalises them there
//    (RGB; one-channel batches are normalised on the host). On the host, U8 gives the same tensor as F32.
#pragma once
#include "engine/image/loader.h"
#include "engine/tensor.h"

namespace ish::img {

// The pixel format the loader should produce for a model on `dev`.
PixelFormat input_format(Device dev);
// Batch b (b.n >= 1), transformed with t, as a [n,h,w,c] F32 tensor on dev.
Tensor batch_tensor(const Batch& b, const Transform& t, Device dev);

}  // namespace ish::img
