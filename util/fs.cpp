#include "util/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/error.h"

namespace ish::util {

void make_dirs(const std::string& dir) {
  if (dir.empty()) return;
  std::string cur;
  for (size_t i = 0; i <= dir.size(); i++) {
    if ((i == dir.size() || dir[i] == '/') && !cur.empty() && cur != "." && cur != "/") {
      if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create directory ", cur, ": ", std::strerror(errno));
      struct stat sb;
      ISH_CHECK(stat(cur.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode), "cannot create directory ", cur, ": a file is in the way");
    }
    if (i < dir.size()) cur += dir[i];
  }
}

std::string parent_dir(const std::string& path) {
  size_t p = path.find_last_of('/');
  if (p == std::string::npos) return "";
  return p == 0 ? "/" : path.substr(0, p);
}

void atomic_write(const std::string& path, const std::vector<std::pair<const void*, size_t>>& parts,
                  const AtomicWriteOptions& opt) {
  ISH_CHECK(!path.empty(), "atomic_write: empty path");
  if (opt.make_parents) make_dirs(parent_dir(path));
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ISH_CHECK(fd >= 0, "cannot write ", tmp, ": ", std::strerror(errno));
  auto give_up = [&](const char* what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail("cannot write ", path, ": ", what, " failed (", std::strerror(err), ")");
  };
  for (auto [data, n] : parts) {
    const char* p = static_cast<const char*>(data);
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::write(fd, p + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) give_up("write", w < 0 ? errno : ENOSPC);
      done += (size_t)w;
    }
  }
  if (opt.durable && ::fsync(fd) != 0) give_up("fsync", errno);
  const int rc = ::close(fd);
  fd = -1;
  if (rc != 0) give_up("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("rename", errno);
  if (opt.durable) {  // make the rename itself survive a crash
    const std::string dir = parent_dir(path);
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
}

void atomic_write(const std::string& path, const std::string& bytes, const AtomicWriteOptions& opt) {
  atomic_write(path, {{bytes.data(), bytes.size()}}, opt);
}

}  // namespace ish::util
