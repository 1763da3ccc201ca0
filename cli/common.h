// What every subcommand shares besides flag parsing (cli/args.h): --help/-h, --device, output folders.
#pragma once
#include <string>

#include "engine/device.h"

namespace ish::cli {

// True when any argument is --help or -h.
bool wants_help(int argc, char** argv);

// "cpu" or "cuda"; cuda without a usable GPU is an error saying so (the driver's detail on a 2nd line).
Device parse_device(const std::string& name);

// Creates `dir` (mkdir -p) and checks a file can be created in it; otherwise one line
// "FLAG DIR: cannot write (reason)". For every output folder, before any work is done.
void check_writable_dir(const std::string& dir, const std::string& flag);

// DIR/meta.json for a --dump folder: {"device": ..., "tf32": ...}, the fields eval's results.json has.
void write_dump_meta(const std::string& dir, const std::string& device, const std::string& tf32);

}  // namespace ish::cli
