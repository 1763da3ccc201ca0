#include "eval/params.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "engine/error.h"
#include "engine/image/imglist.h"

namespace ish::eval {
namespace {

bool known(const std::string& name) {
  const auto& all = detector_names();
  return std::find(all.begin(), all.end(), name) != all.end();
}

std::string known_list() {
  std::string s;
  for (auto& n : detector_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::vector<std::string> parse_postprocessors(const std::string& text) {
  if (text == "all") return detector_names();
  std::vector<std::string> out;
  size_t s = 0;
  while (s <= text.size()) {
    size_t e = text.find(',', s);
    if (e == std::string::npos) e = text.size();
    if (e > s) {
      std::string name = text.substr(s, e - s);
      ISH_CHECK(known(name), "eval: unknown postprocessor '", name, "' (known: ", known_list(), ", or all)");
      ISH_CHECK(std::find(out.begin(), out.end(), name) == out.end(), "eval: postprocessor '", name, "' is listed twice");
      out.push_back(std::move(name));
    }
    s = e + 1;
  }
  ISH_CHECK(!out.empty(), "eval: --postprocessor is empty");
  return out;
}

void parse_set(const std::string& text, std::map<std::string, HParams>* fixed) {
  const size_t dot = text.find('.'), eq = text.find('=');
  ISH_CHECK(dot != std::string::npos && eq != std::string::npos && dot > 0 && eq > dot + 1 && eq + 1 < text.size(),
            "eval: --set wants PP.KEY=VALUE, got '", text, "'");
  const std::string pp = text.substr(0, dot), key = text.substr(dot + 1, eq - dot - 1), num = text.substr(eq + 1);
  ISH_CHECK(known(pp), "eval: --set ", text, ": unknown postprocessor '", pp, "' (known: ", known_list(), ")");
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(num.c_str(), &end);
  const bool numeric = end && end != num.c_str() && *end == 0;
  if (!numeric && std::isalpha((unsigned char)num[0])) {
    try {
      x = param_word(pp, key, num);  // a word where the key takes one (cadref.logit_method=GEN)
    } catch (const Error& e) {
      fail("eval: --set ", text, ": ", e.what());
    }
  } else {
    ISH_CHECK(numeric && errno != ERANGE && std::isfinite(x), "eval: --set ", text, ": '", num,
              "' is not a finite number");
  }
  (*fixed)[pp].push_back({key, x});
}

ListSpec parse_named_list(const std::string& text, const std::string& root, const std::string& flag) {
  const size_t p = text.find('=');
  ISH_CHECK(p != std::string::npos && p > 0 && p + 1 < text.size(), flag, " wants NAME=LIST, got '", text, "'");
  return {text.substr(0, p), text.substr(p + 1), root};  // the list file as given, like any path
}

}  // namespace ish::eval
