// OpenOOD imglist reader (see imglist.h).
#include "engine/image/imglist.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "engine/error.h"

namespace ish::img {

std::string ImgList::where(size_t i) const { return str(file, ":", items.at(i).line); }

std::string join_path(const std::string& root, const std::string& rel) {
  if (root.empty() || (!rel.empty() && rel[0] == '/')) return rel;
  return root.back() == '/' ? root + rel : root + "/" + rel;
}

static bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\f\v") == std::string::npos;
}

// Python int(): optional blanks, optional sign, decimal digits (underscores between digits), blanks.
static bool parse_label(const std::string& s, int64_t& out) {
  size_t i = s.find_first_not_of(" \t\r\f\v");
  size_t e = s.find_last_not_of(" \t\r\f\v");
  if (i == std::string::npos) return false;
  bool neg = false;
  if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
  if (i > e) return false;
  int64_t v = 0;
  bool prev_digit = false;
  for (; i <= e; i++) {
    const char c = s[i];
    if (c == '_' && prev_digit && i < e && std::isdigit((unsigned char)s[i + 1])) { prev_digit = false; continue; }
    if (!std::isdigit((unsigned char)c)) return false;
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (c - '0');
    prev_digit = true;
  }
  out = neg ? -v : v;
  return true;
}

ImgList parse_imglist(const std::string& text, const std::string& name, const std::string& data_root) {
  ImgList L;
  L.file = name;
  L.root = data_root;
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string ln = text.substr(pos, nl - pos);
    if (!ln.empty() && ln.back() == '\r') ln.pop_back();
    lines.push_back(std::move(ln));
    pos = nl + 1;
  }
  size_t n = lines.size();
  while (n > 0 && is_blank(lines[n - 1])) n--;  // trailing blank lines are fine
  for (size_t i = 0; i < n; i++) {
    const std::string& ln = lines[i];
    const int lineno = (int)i + 1;
    ISH_CHECK(!is_blank(ln), "image list ", name, ":", lineno, ": blank line");
    const size_t sp = ln.find(' ');
    ISH_CHECK(sp != std::string::npos, "image list ", name, ":", lineno, ": expected 'path label', got '", ln,
              "'");
    ListItem it;
    it.rel = ln.substr(0, sp);
    ISH_CHECK(!it.rel.empty(), "image list ", name, ":", lineno, ": empty path (line starts with a space)");
    const std::string lab = ln.substr(sp + 1);
    ISH_CHECK(parse_label(lab, it.label), "image list ", name, ":", lineno, ": bad label '", lab, "'");
    ISH_CHECK(it.label >= -1, "image list ", name, ":", lineno, ": label ", it.label,
              " < -1 (OOD samples use -1)");
    it.path = join_path(data_root, it.rel);
    it.line = lineno;
    L.items.push_back(std::move(it));
  }
  ISH_CHECK(!L.items.empty(), "image list ", name, ": empty list");
  return L;
}

ImgList read_imglist(const std::string& list_path, const std::string& data_root, bool check_files) {
  std::ifstream f(list_path, std::ios::binary);
  ISH_CHECK(f, "image list ", list_path, ": cannot open (", std::strerror(errno), ")");
  std::ostringstream ss;
  ss << f.rdbuf();
  ISH_CHECK(!f.bad(), "image list ", list_path, ": read error");
  ImgList L = parse_imglist(ss.str(), list_path, data_root);
  if (check_files) {
    for (size_t i = 0; i < L.items.size(); i++) {
      struct stat sb;
      ISH_CHECK(stat(L.items[i].path.c_str(), &sb) == 0 && S_ISREG(sb.st_mode), "image list ", L.where(i),
                ": missing image file ", L.items[i].path);
    }
  }
  return L;
}

}  // namespace ish::img
