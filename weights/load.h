// Loading weights from any supported file: safetensors, or a PyTorch .pth checkpoint (zip format of
// torch >= 1.6, or the legacy format), chosen by the file's content, not its name. No Python involved.
// The result is a flat state dict in file order: CPU tensors, contiguous, dtype as stored
// (F32/F64/F16/BF16/I64/I32/U8), torchvision layout (conv weights KCRS), each named (Tensor::name()).
// Bad files throw ish::Error (exit code 2) with one line naming the file and, where known, the tensor.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ish::weights {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

enum class Format { Safetensors, PthZip, PthLegacy };
const char* format_name(Format f);
// Sniffs the first bytes: a safetensors header ('{' after the 8-byte length), zip local header "PK", the
// legacy pickle (0x80 protocol byte). Anything else throws "not a safetensors or PyTorch file" (as does
// an unreadable file, with the system's reason).
Format detect_format(const std::string& path);

// A .pth checkpoint. A top-level dict wrapping the state dict ({"state_dict": ...}, {"model": ...},
// {"net": ...}, ...) is unwrapped; a leading "module." (DDP) on every key is stripped.
StateDict load_pth(const std::string& path, std::string* content_hash = nullptr);
// A safetensors file, validated by the reference rules (weights/safetensors.h). `metadata` (optional)
// receives its __metadata__.
StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr,
                          std::string* content_hash = nullptr);
// Dispatches on detect_format(). Also strips a "module." prefix shared by every key of a safetensors file.
// `content_hash` (optional, every loader): util::ContentHash of the file's bytes as mapped for loading, so a
// caller keying a cache on the file (eval, features) does not read it a second time.
StateDict load_any(const std::string& path, std::map<std::string, std::string>* metadata = nullptr,
                   std::string* content_hash = nullptr);

}  // namespace ish::weights
