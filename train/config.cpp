#include "train/config.h"

#include <cstdint>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ish::train {

// One list of fields for both directions.
#define ISH_TRAIN_FIELDS(X)                                                                                   \
  X(arch) X(weights) X(epochs) X(batch_size) X(accum) X(lr) X(momentum) X(nesterov) X(wd) X(wd_fc) X(ish)      \
  X(ish_strategy) X(ish_percentile) X(seed) X(augment) X(shuffle) X(deterministic) X(strict) X(max_steps)      \
  X(log_every) X(save_every) X(out) X(device) X(train_list) X(val_list) X(data_root) X(image_size) X(prefetch)  \
  X(tf32)

std::string config_to_json(const TrainConfig& c) {
  nlohmann::json j;
#define TO(f) j[#f] = c.f;
  ISH_TRAIN_FIELDS(TO)
#undef TO
  return j.dump();
}

// One field. An integer field takes only an integer in its type's range: nlohmann would cast a float
// (1e300 into int64_t is undefined behaviour; 3.7 would silently become 3) or wrap a negative.
template <class T>
static void read_field(const nlohmann::json& j, const char* key, T& out, const std::string& source) {
  if (!j.contains(key)) return;
  const nlohmann::json& v = j.at(key);
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    bool ok = v.is_number_integer();
    if (ok && v.is_number_unsigned()) ok = v.get<uint64_t>() <= (uint64_t)std::numeric_limits<T>::max();
    else if (ok) ok = v.get<int64_t>() >= (int64_t)std::numeric_limits<T>::min() &&
                      (std::is_unsigned_v<T> || v.get<int64_t>() <= (int64_t)std::numeric_limits<T>::max());
    ISH_CHECK(ok, source, ": config '", key, "' must be an integer in [", +std::numeric_limits<T>::min(), ", ",
              +std::numeric_limits<T>::max(), "], got ", v.dump());
  }
  v.get_to(out);
}

TrainConfig config_from_json(const std::string& s, const std::string& source) {
  TrainConfig c;
  try {
    auto j = nlohmann::json::parse(s);
    ISH_CHECK(j.is_object(), source, ": config is not a JSON object");
#define FROM(f) read_field(j, #f, c.f, source);
    ISH_TRAIN_FIELDS(FROM)
#undef FROM
  } catch (const nlohmann::json::exception& e) {
    fail(source, ": bad config JSON: ", e.what());
  }
  return c;
}

}  // namespace ish::train
