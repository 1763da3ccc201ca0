#include "weights/observe.h"

#include <utility>

namespace ish::weights {

static thread_local ObserveContent* g_current = nullptr;

ObserveContent::ObserveContent(ContentFn fn) : fn_(std::move(fn)), prev_(g_current) { g_current = this; }
ObserveContent::~ObserveContent() { g_current = prev_; }

void notify_content(const std::string& path, const uint8_t* data, size_t size) {
  if (g_current && g_current->fn_) g_current->fn_(path, data, size);
}

}  // namespace ish::weights
