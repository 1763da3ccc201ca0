// The demo's report.html, self-contained (inline CSS and SVG, no scripts or external assets): the paired
// CE-vs-ISH verdict, a headline chart, the tables over seeds with the best value of each column
// highlighted, the paired table, and links to every model's own report (eval's page, opened full).
#pragma once
#include <string>

#include "demo/results.h"

namespace ish::demo {

// The headline chart: near and far AUROC per detector, one bar per training (mean over seeds) with an
// error bar of ± one sample std; an SVG element.
std::string headline_svg(const DemoRun& r);

void write_report(const DemoRun& r, const std::string& path);

}  // namespace ish::demo
