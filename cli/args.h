// A small flag parser shared by the subcommands: --name value, --name=value, boolean flags,
// repeatable flags and positionals. Unknown flags are an error (exit 2).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace ish::cli {

class Args {
 public:
  // `bool_flags` lists flags that take no value (e.g. {"--recompute", "--strict"}).
  Args(int argc, char** argv, std::vector<std::string> bool_flags = {});
  std::string get(const std::string& name, const std::string& def = "");  // last occurrence
  std::vector<std::string> all(const std::string& name);                   // every occurrence
  bool has(const std::string& name);
  bool flag(const std::string& name);  // a boolean flag
  long long get_int(const std::string& name, long long def);
  double get_double(const std::string& name, double def);
  // The same with a range check (doubles must also be finite): "NAME must be in [lo, hi], got V".
  long long get_int_in(const std::string& name, long long def, long long lo, long long hi);
  double get_double_in(const std::string& name, double def, double lo, double hi, bool hi_open = false);
  const std::vector<std::string>& positional() const { return pos_; }
  void alias(const std::string& alt, const std::string& name);  // --ckpt-path -> --weights
  // Fails on any flag that was given but never asked for.
  void finish();
 private:
  std::multimap<std::string, std::string> kv_;
  std::vector<std::string> order_;
  std::vector<std::string> pos_;
  std::map<std::string, bool> used_;
};

// --tf32 on|off|all, the same for every command that computes: validated (a bad value is a one-line
// error, exit 2), applied to engine/device_options.h, and returned ("on" etc.) for the records
// (results.json, checkpoint and feature-cache metadata). `def` applies when the flag is absent.
std::string tf32_flag(Args& a, const std::string& def = "on");
// Its --help text (two lines).
extern const char* const kTf32Help;

}  // namespace ish::cli
