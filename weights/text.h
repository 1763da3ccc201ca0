// Quoting of strings that come from files (tensor names, JSON errors, pickle globals) for one-line
// error messages: control and non-ASCII bytes are escaped, long strings are cut.
#pragma once
#include <string>

namespace ish::weights {

inline std::string printable(const std::string& s, size_t max_len = 160) {
  static const char* hex = "0123456789abcdef";
  std::string r;
  for (size_t i = 0; i < s.size() && i < max_len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') r += (char)c;
    else if (c == '\\') r += "\\\\";
    else { r += "\\x"; r += hex[c >> 4]; r += hex[c & 15]; }
  }
  if (s.size() > max_len) r += "...";
  return r;
}
// 'name' in single quotes, escaped (not "quoted": std::quoted wins overload resolution by ADL).
inline std::string qstr(const std::string& s) { return "'" + printable(s) + "'"; }

}  // namespace ish::weights
