// The device options and their command-line spelling (engine/device_options.h).
#include "engine/device_options.h"

#include "engine/error.h"

namespace ish {

Tf32 parse_tf32(const std::string& s) {
  if (s == "off") return Tf32::Off;
  if (s == "on") return Tf32::On;
  if (s == "all") return Tf32::All;
  fail("--tf32: expected on, off or all (on: cuDNN convolutions, all: GEMMs too), got '", s, "'");
}

const char* tf32_name(Tf32 t) {
  switch (t) {
    case Tf32::Off: return "off";
    case Tf32::On: return "on";
    case Tf32::All: return "all";
  }
  return "?";
}

DeviceOptions& device_options() {
  static DeviceOptions o;
  return o;
}

}  // namespace ish
