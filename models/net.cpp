#include "models/net.h"

#include "engine/error.h"

namespace ish::models {

Tensor Net::head_entry(const char* suffix) {
  const std::string want = std::string(head_name()) + suffix;
  Tensor r;
  visit([&](const std::string& name, Tensor& t, EntryKind) {
    if (name == want) r = t;
  });
  ISH_CHECK(r.defined(), arch(), ": no ", want, " entry");
  return r;
}

}  // namespace ish::models
