// build/ishscale: one program, one subcommand per job.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "cli/commands.h"
#include "cli/version.h"
#include "engine/error.h"
#include "engine/threads.h"

using namespace ish::cli;

static const struct { const char* name; int (*fn)(int, char**); const char* help; } kCommands[] = {
    {"convert", cmd_convert, "IN.pth OUT.safetensors   convert a PyTorch checkpoint (no Python)"},
    {"info", cmd_info, "FILE                      list tensors and metadata of a weights file"},
    {"classify", cmd_classify, "--weights W IMG...         top-5 classes per image"},
    {"features", cmd_features, "extract and cache logits and features for an image list"},
    {"eval", cmd_eval, "OOD benchmark: detectors, APS, metrics, report"},
    {"train", cmd_train, "CE or ISH training with checkpoints and resume"},
    {"bench", cmd_bench, "benchmarks (GPU model/kernels, --pipeline for CPU preprocessing)"},
    {"demo", cmd_demo, "built-in Fashion-MNIST OOD benchmark: train CE/ISH, evaluate every detector"},
};

static void usage(FILE* f) {
  std::fprintf(f, "usage: ishscale <command> [flags]\n\ncommands:\n");
  for (auto& c : kCommands) std::fprintf(f, "  %-9s %s\n", c.name, c.help);
  std::fprintf(f, "\nRun 'ishscale <command> --help' (or 'ishscale help <command>') for the flags of one command;\n"
                 "'ishscale --version' prints the version.\n");
}

int main(int argc, char** argv) {
  ish::init_process(argc, argv);  // passive OpenMP waiting, all cores; may re-exec once
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      (!std::strcmp(argv[1], "help") && argc == 2)) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version")) {
    std::printf("ishscale %s\n", ish::cli::version_string().c_str());
    return 0;
  }
  // `ishscale help CMD` is `ishscale CMD --help`.
  static char help_flag[] = "--help";
  char* help_argv[] = {argv[0], argc > 2 ? argv[2] : nullptr, help_flag, nullptr};
  if (!std::strcmp(argv[1], "help")) {
    argc = 3;
    argv = help_argv;
  }
  for (auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.fn(argc - 2, argv + 2);
    } catch (const ish::Error& e) {
      std::fprintf(stderr, "ishscale %s: error: %s\n", c.name, e.what());
      return e.code;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "ishscale %s: error: out of memory\n", c.name);
      return 3;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ishscale %s: error: %s\n", c.name, e.what());
      return 3;
    }
  }
  std::fprintf(stderr, "ishscale: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
