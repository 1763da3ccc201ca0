#include "cli/args.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "engine/device_options.h"
#include "engine/error.h"

namespace ish::cli {

Args::Args(int argc, char** argv, std::vector<std::string> bool_flags) {
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string k = a, v;
      auto eq = a.find('=');
      if (eq != std::string::npos) { k = a.substr(0, eq); v = a.substr(eq + 1); }
      else if (std::find(bool_flags.begin(), bool_flags.end(), a) != bool_flags.end()) v = "1";
      else {
        ISH_CHECK(i + 1 < argc, "flag ", a, " needs a value");
        v = argv[++i];
      }
      kv_.emplace(k, v);
      order_.push_back(k);
    } else {
      pos_.push_back(a);
    }
  }
}
void Args::alias(const std::string& alt, const std::string& name) {
  auto r = kv_.equal_range(alt);
  std::vector<std::string> vals;
  for (auto it = r.first; it != r.second; ++it) vals.push_back(it->second);
  kv_.erase(alt);
  for (auto& v : vals) kv_.emplace(name, v);
  used_[alt] = true;
}
std::string Args::get(const std::string& name, const std::string& def) {
  used_[name] = true;
  auto r = kv_.equal_range(name);
  if (r.first == r.second) return def;
  return std::prev(r.second)->second;
}
std::vector<std::string> Args::all(const std::string& name) {
  used_[name] = true;
  std::vector<std::string> v;
  auto r = kv_.equal_range(name);
  for (auto it = r.first; it != r.second; ++it) v.push_back(it->second);
  return v;
}
bool Args::has(const std::string& name) { used_[name] = true; return kv_.count(name) > 0; }
bool Args::flag(const std::string& name) {
  std::string v = get(name, "0");
  return v == "1" || v == "true" || v == "yes";
}
long long Args::get_int(const std::string& name, long long def) {
  std::string v = get(name);
  if (v.empty()) return def;
  char* end = nullptr;
  long long r = std::strtoll(v.c_str(), &end, 10);
  ISH_CHECK(end && *end == 0, "flag ", name, ": '", v, "' is not an integer");
  return r;
}
double Args::get_double(const std::string& name, double def) {
  std::string v = get(name);
  if (v.empty()) return def;
  char* end = nullptr;
  double r = std::strtod(v.c_str(), &end);
  ISH_CHECK(end && *end == 0, "flag ", name, ": '", v, "' is not a number");
  return r;
}
long long Args::get_int_in(const std::string& name, long long def, long long lo, long long hi) {
  const long long v = get_int(name, def);
  ISH_CHECK(v >= lo && v <= hi, name, " must be in [", lo, ", ", hi, "], got ", v);
  return v;
}
double Args::get_double_in(const std::string& name, double def, double lo, double hi, bool hi_open) {
  const double v = get_double(name, def);
  ISH_CHECK(std::isfinite(v) && v >= lo && (hi_open ? v < hi : v <= hi), name, " must be in [", lo, ", ", hi,
            hi_open ? ")" : "]", ", got ", get(name));
  return v;
}
void Args::finish() {
  for (auto& k : order_) ISH_CHECK(used_.count(k), "unknown flag ", k);
}

const char* const kTf32Help =
    "  --tf32 on|off|all       TF32 tensor cores on cuda: on (default, as PyTorch) = cuDNN convolutions, all =\n"
    "                          GEMMs too (fc, detectors' logits), off = strict fp32. No effect on the CPU.\n";

std::string tf32_flag(Args& a, const std::string& def) {
  const Tf32 t = parse_tf32(a.get("--tf32", def));
  device_options().tf32 = t;
  return tf32_name(t);
}

}  // namespace ish::cli
