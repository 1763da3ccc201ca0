#include "train/config.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ish::train {

// One list of fields for both directions.
#define ISH_TRAIN_FIELDS(X)                                                                                   \
  X(arch) X(weights) X(epochs) X(batch_size) X(accum) X(lr) X(momentum) X(nesterov) X(wd) X(wd_fc) X(ish)      \
  X(ish_strategy) X(ish_percentile) X(seed) X(augment) X(shuffle) X(deterministic) X(strict) X(max_steps)      \
  X(log_every) X(save_every) X(out) X(device) X(train_list) X(val_list) X(data_root) X(image_size) X(prefetch)

std::string config_to_json(const TrainConfig& c) {
  nlohmann::json j;
#define TO(f) j[#f] = c.f;
  ISH_TRAIN_FIELDS(TO)
#undef TO
  return j.dump();
}

TrainConfig config_from_json(const std::string& s, const std::string& source) {
  TrainConfig c;
  try {
    auto j = nlohmann::json::parse(s);
    ISH_CHECK(j.is_object(), source, ": config is not a JSON object");
#define FROM(f) if (j.contains(#f)) j.at(#f).get_to(c.f);
    ISH_TRAIN_FIELDS(FROM)
#undef FROM
  } catch (const nlohmann::json::exception& e) {
    fail(source, ": bad config JSON: ", e.what());
  }
  return c;
}

}  // namespace ish::train
