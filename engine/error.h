// Errors: one exception type carrying a one-line message and the process exit code.
// Bad input (files, lists, shapes from users) is exit code 2; internal invariants are 3.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ish {

struct Error : std::runtime_error {
  int code;
  explicit Error(const std::string& msg, int code_ = 2) : std::runtime_error(msg), code(code_) {}
};

namespace detail {
inline void cat(std::ostringstream&) {}
template <class T, class... R>
void cat(std::ostringstream& os, const T& v, const R&... rest) { os << v; cat(os, rest...); }
}  // namespace detail

template <class... A>
std::string str(const A&... a) { std::ostringstream os; detail::cat(os, a...); return os.str(); }

template <class... A>
[[noreturn]] void fail(const A&... a) { throw Error(str(a...), 2); }

}  // namespace ish

// ISH_CHECK(cond, parts...): throws ish::Error(exit 2) with the concatenated parts.
#define ISH_CHECK(cond, ...) \
  do { if (!(cond)) ::ish::fail(__VA_ARGS__); } while (0)
// ISH_ASSERT: an internal invariant (a bug if it fires), exit 3, with file:line.
#define ISH_ASSERT(cond, ...) \
  do { if (!(cond)) throw ::ish::Error(::ish::str(__FILE__, ":", __LINE__, ": internal: ", #cond, " ", ##__VA_ARGS__), 3); } while (0)
