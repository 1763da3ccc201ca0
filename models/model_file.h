// A weights file as the commands open it: safetensors or .pth (by content), a training checkpoint's
// optimizer entries (optim.*) dropped, the architecture resolved from metadata, tensors and flags
// (models/model_meta.h), and the model built and loaded strictly.
#pragma once
#include <string>
#include <vector>

#include "models/model_meta.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "weights/load.h"

namespace ish::models {

struct WeightsFile {
  std::string path;
  NamedTensors tensors;         // the model's entries (optim.* removed)
  ModelMeta file_meta;          // what the metadata says
  Inferred inferred;            // what the tensors say
  ModelMeta meta;               // resolved: arch always set
  int64_t optim_entries = 0;    // optimizer entries dropped (a training checkpoint)
  std::map<std::string, std::string> metadata;  // the file's __metadata__ as read (safetensors only)
  std::string content_hash;     // with hash: util::ContentHash of the file's bytes (eval's weights_hash), else ""
};

// Reads and resolves (resolve_model with `given`); `hash` also hashes the bytes it loads (no second read).
// Throws ish::Error naming the file.
WeightsFile read_weights(const std::string& path, const ModelMeta& given, bool hash = false);

// "note: PATH is a training checkpoint: its N optimizer entries (optim.*) are ignored", or "".
std::string optim_note(const WeightsFile& w);

// Strict load of w's tensors into `model` (load_state_dict). A mismatch is one line plus, when the
// tensors point at another architecture or width, one hint line saying which.
void load_weights_file(ResNet& model, const WeightsFile& w, const LoadOptions& opt = {});

// read_weights + build (config_of(meta), no random init) + load, in eval mode on dev.
ResNet open_model(const WeightsFile& w, Device dev);

}  // namespace ish::models
