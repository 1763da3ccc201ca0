// The test binary links only the library (engine/, models/, train/, eval/, weights/), not cli/. The
// demo's sources live in cli/demo_*.cpp, so they are compiled into the tests here, exactly once.
#include "cli/demo_config.cpp"
#include "cli/demo_data.cpp"
#include "cli/demo_eval.cpp"
#include "cli/demo_glyphs.cpp"
#include "cli/demo_model.cpp"
#include "cli/demo_results.cpp"
#include "cli/demo_run.cpp"
