// `ishscale demo`: builds the data, trains CE from scratch, fine-tunes it with CE and with ISH, evaluates
// every detector on the three models for each seed, and writes results.json, report.html, OpenOOD CSVs
// and score dumps under config.out. Returns the process exit code.
#pragma once
#include "demo/config.h"

namespace ish::demo {

int run_demo(const DemoConfig& config);

}  // namespace ish::demo
