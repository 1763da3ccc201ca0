// A restricted, bounds-checked unpickler for PyTorch checkpoints. It builds a plain value tree and
// never calls anything: the only globals it accepts are the few a state dict uses (OrderedDict, the
// tensor/parameter rebuild functions, the storage types), interpreted here by name. Anything else
// (os.system, builtins.eval, unknown classes, unsupported opcodes) is refused with the reason.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ish::weights::pkl {

enum class Kind : uint8_t { None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
const char* kind_name(Kind k);

struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;                // Bool/Int; index into storages/tensors for Storage/Tensor
  double f = 0;                 // Float
  std::string s;                // Str, Bytes, BigInt (little-endian two's complement), Global "module.name"
  std::vector<uint32_t> items;  // Tuple/List elements; Dict: key, value, key, value, ... (in insertion order)
};

// One persistent-id reference to a storage: ('storage', torch.XStorage, key, location, numel[, view]).
struct StorageRef {
  std::string key;
  DType dtype = DType::F32;
  uint64_t numel = 0;        // elements of the (view of the) storage
  uint64_t view_offset = 0;  // legacy view metadata: offset in elements into the root storage
  uint64_t root_numel = 0;   // elements of the root storage as declared
};

// _rebuild_tensor_v2(storage, offset, size, stride, ...): a strided view of a storage, in elements.
struct TensorRef {
  uint32_t storage = 0;  // index into Pickle::storages
  int64_t offset = 0;
  std::vector<int64_t> size, stride;
};

struct Pickle {
  std::vector<Value> values;
  std::vector<StorageRef> storages;
  std::vector<TensorRef> tensors;
  uint32_t root = 0;
  const Value& at(uint32_t i) const { return values[i]; }
};

// Parses one pickle starting at data[*pos] and advances *pos past its STOP opcode. `what` names the
// file (and part) in error messages.
Pickle unpickle(const std::string& what, const uint8_t* data, size_t size, size_t* pos);

}  // namespace ish::weights::pkl
