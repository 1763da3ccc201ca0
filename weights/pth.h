// PyTorch checkpoints without Python: the zip format (torch >= 1.6: <root>/data.pkl plus one STORED
// entry <root>/data/<key> per storage) and the legacy format (magic, protocol and sys_info pickles,
// the main pickle, the list of storage keys, then each storage as an 8-byte element count and raw
// bytes). The pickles go through the restricted unpickler of weights/pickle.h.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "weights/load.h"
#include "weights/pickle.h"

namespace ish::weights {

// load_pth() on bytes in memory; `what` names them in messages. `max_bytes` caps the total size of
// the tensors made (0: twice the input plus 64 MiB, room for views sharing storages).
StateDict load_pth_bytes(const std::string& what, const uint8_t* data, size_t size, uint64_t max_bytes = 0);

// The raw bytes of the storage with this key (pointer, byte count); throws if there is none.
using StorageBytes = std::function<std::pair<const uint8_t*, uint64_t>(const std::string& key)>;
// Finds the state dict in an unpickled checkpoint (unwrapping {"state_dict": ...} and the like, and
// stripping a "module." prefix) and materialises its tensors, checking every size, stride and offset
// against its storage. `max_bytes` caps the total size of the tensors made.
StateDict state_dict_from_pickle(const std::string& what, const pkl::Pickle& p, const StorageBytes& storage,
                                 uint64_t max_bytes);

}  // namespace ish::weights
