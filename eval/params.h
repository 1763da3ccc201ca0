// The text forms of an evaluation's settings, as `ishscale eval` takes them on its command line:
// postprocessor lists, fixed hyper-parameters and named image lists. Malformed text throws ish::Error
// naming the offending item (exit 2).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "eval/detectors.h"
#include "eval/run.h"

namespace ish::eval {

// "msp", a comma list "msp,knn,vim" (empty items are skipped) or "all" (detector_names()). Unknown or
// repeated names are refused; an empty result too.
std::vector<std::string> parse_postprocessors(const std::string& text);

// "PP.KEY=VALUE" (e.g. "knn.K=100", "vim.dim=1000"): appends {KEY, VALUE} to (*fixed)[PP]. PP must be a
// known detector; VALUE a whole decimal number (strtod syntax), or a word where KEY takes one
// ("cadref.logit_method=GEN", mapped by the detector's param_word). Whether KEY exists and VALUE is in
// range is the detector's set_params() to say.
void parse_set(const std::string& text, std::map<std::string, HParams>* fixed);

// "NAME=LIST" for --near/--far: the list file is LIST as given (relative to the working directory, like
// every list named on a command line), the image paths inside it relative to `root`.
ListSpec parse_named_list(const std::string& text, const std::string& root, const std::string& flag);

}  // namespace ish::eval
