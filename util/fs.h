// Files and directories: mkdir -p, atomic writes, listings and time stamps (the one copy the engine, eval, the demo and the
// weights writer share).
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace ish::util {

// mkdir -p: creates every missing directory of `dir` (mode 0755). Empty, "." and "/" are no-ops.
// Throws ish::Error naming the directory that could not be created.
void make_dirs(const std::string& dir);

// The directory part of a path ("" when it has none): "a/b/c.npy" -> "a/b".
std::string parent_dir(const std::string& path);

struct AtomicWriteOptions {
  bool make_parents = true;  // create the missing parent directories first
  bool durable = false;      // fsync the file before the rename and the directory after it (checkpoints)
};

// Writes the concatenation of `parts` (pointer, byte count) to PATH.tmp and renames it over `path`, so
// a reader sees the old file or the whole new one, never a partial one. On any failure the temp file
// is removed and ish::Error names the path and the system's reason.
void atomic_write(const std::string& path, const std::vector<std::pair<const void*, size_t>>& parts,
                  const AtomicWriteOptions& opt = {});
void atomic_write(const std::string& path, const std::string& bytes, const AtomicWriteOptions& opt = {});

// The names in `dir` (no "." or ".."), sorted; empty when it does not exist or cannot be read.
std::vector<std::string> list_dir(const std::string& dir);

// The modification time of `path` as UTC ISO 8601 ("2026-01-31T12:00:00Z"); "" when it does not exist.
std::string mtime_utc(const std::string& path);
// The current time in the same form.
std::string now_utc();

// Removes the regular files under `dir` (recursively) whose names end in `suffix`, then the directories
// left empty, `dir` included. Other files stay. A missing `dir` is not an error.
void remove_files_under(const std::string& dir, const std::string& suffix);

}  // namespace ish::util
