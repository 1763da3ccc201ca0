#include "cli/common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "util/fs.h"

namespace ish::cli {

bool wants_help(int argc, char** argv) {
  for (int i = 0; i < argc; i++)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) return true;
  return false;
}

Device parse_device(const std::string& name) {
  ISH_CHECK(name == "cpu" || name == "cuda", "--device must be cpu or cuda, got '", name, "'");
  if (name == "cpu") return Device::CPU;
  if (!dev::cuda_available()) {
    const std::string why = dev::cuda_unavailable_reason();
    fail("--device cuda: no usable GPU (use --device cpu)", why.empty() ? "" : "\n  " + why);
  }
  return Device::CUDA;
}

void check_writable_dir(const std::string& dir, const std::string& flag) {
  ISH_CHECK(!dir.empty(), flag, ": empty path");
  try {
    util::make_dirs(dir);
  } catch (const Error& e) {
    fail(flag, " ", dir, ": cannot write (", e.what(), ")");
  }
  const std::string probe = dir + "/.ishscale_write_probe." + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ISH_CHECK(fd >= 0, flag, " ", dir, ": cannot write (", std::strerror(errno), ")");
  ::close(fd);
  ::unlink(probe.c_str());
}

void write_dump_meta(const std::string& dir, const std::string& device, const std::string& tf32) {
  const nlohmann::json j = {{"device", device}, {"tf32", tf32}};
  util::atomic_write(dir + "/meta.json", j.dump(2) + "\n");
}

}  // namespace ish::cli
