// One function per subcommand of build/ishscale; each lives in cli/cmd_<name>.cpp.
// argv excludes the program and subcommand names. Return the exit code; throw ish::Error
// for bad input (main prints it on one line and exits with its code).
#pragma once

namespace ish::cli {
int cmd_convert(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_classify(int argc, char** argv);
int cmd_features(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_demo(int argc, char** argv);
}  // namespace ish::cli
