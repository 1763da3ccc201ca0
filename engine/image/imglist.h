// OpenOOD image lists: one `relative/path label` per line, split on the FIRST space (the label is the
// rest, parsed as Python's int() would: surrounding blanks allowed). OOD samples have label -1.
// Paths resolve against a data root like os.path.join (an absolute path in the list stays absolute).
// Errors name the list file and the 1-based line. An empty list is an error; blank lines at the end
// are ignored, a blank line in the middle is an error (OpenOOD would crash on it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ish::img {

struct ListItem {
  std::string rel;   // the path as written in the list
  std::string path;  // resolved against the data root
  int64_t label = 0;
  int line = 0;      // 1-based line in the list file
};

struct ImgList {
  std::string file;  // the list's path (or a name given to parse_imglist)
  std::string root;
  std::vector<ListItem> items;
  std::string where(size_t i) const;  // "file:line" for messages
};

// Reads `list_path`. With check_files, every image must exist (error names the line).
ImgList read_imglist(const std::string& list_path, const std::string& data_root, bool check_files = false);
// Parses list text; `name` stands for the file in messages.
ImgList parse_imglist(const std::string& text, const std::string& name, const std::string& data_root);
// os.path.join(root, rel) for POSIX paths.
std::string join_path(const std::string& root, const std::string& rel);

}  // namespace ish::img
