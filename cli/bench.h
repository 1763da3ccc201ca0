// `ishscale bench` parts: --pipeline (CPU image preprocessing vs PIL) and the GPU model/kernel bench.
#pragma once

namespace ish::cli {
int bench_pipeline(int argc, char** argv);  // cli/bench_pipeline.cpp
int bench_gpu(int argc, char** argv);       // cli/bench_gpu.cpp
}  // namespace ish::cli
