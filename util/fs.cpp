#include "util/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <algorithm>

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

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

static std::string utc_iso(time_t t) {
  struct tm tm;
  char b[32];
  gmtime_r(&t, &tm);
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

std::string mtime_utc(const std::string& path) {
  struct stat sb;
  return stat(path.c_str(), &sb) == 0 ? utc_iso(sb.st_mtime) : "";
}

std::string now_utc() { return utc_iso(std::time(nullptr)); }

void remove_files_under(const std::string& dir, const std::string& suffix) {
  struct stat sb;
  if (lstat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) return;  // symlinks are not followed
  for (const std::string& n : list_dir(dir)) {
    const std::string p = dir + "/" + n;
    if (lstat(p.c_str(), &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) {
      remove_files_under(p, suffix);
    } else if (S_ISREG(sb.st_mode) && n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      ISH_CHECK(::unlink(p.c_str()) == 0 || errno == ENOENT, "cannot remove ", p, ": ", std::strerror(errno));
    }
  }
  ::rmdir(dir.c_str());  // only succeeds when nothing else is left
}

}  // namespace ish::util
