// libFuzzer target: the metadata of checkpoints. The input is a safetensors JSON header (tensors and
// "__metadata__"); it is framed as a file ([u64 length][header], no data) in a memfd and read as
// `ishscale train --resume` reads it: read_checkpoint_meta (st::File::open, the format, counts,
// epoch seed, Rng state) and then the run's config JSON through config_from_json.
// Accept or throw ish::Error (exit 2); anything else is a bug.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "engine/error.h"
#include "train/checkpoint.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz_ckptmeta", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0) __builtin_trap();
  std::string file(8, '\0');
  for (int i = 0; i < 8; i++) file[i] = (char)((uint64_t)size >> (8 * i));
  file.append((const char*)data, size);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, file.data(), file.size(), 0) != (ssize_t)file.size()) __builtin_trap();
  try {
    ish::train::CheckpointMeta m = ish::train::read_checkpoint_meta(path);
    if (m.step < 0 || m.epoch < 0 || m.step_in_epoch < 0) __builtin_trap();
    ish::train::TrainConfig c = ish::train::config_from_json(m.config, path);
    (void)c;
  } catch (const ish::Error& e) {
    if (e.code != 2) __builtin_trap();
  }
  return 0;
}
