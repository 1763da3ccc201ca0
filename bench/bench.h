// The benchmark harnesses behind `ishscale bench` (cli/cmd_bench.cpp parses the flags):
//   pipeline: CPU image preprocessing against PIL + torchvision (bench/pipeline.cpp, every build);
//   gpu:      ResNet-50 inference/training and each hand-written kernel (bench/gpu.cpp, compiled only in
//             CUDA builds; builds without CUDA link bench/gpu_absent.cpp, which refuses with the reason).
#pragma once
#include <string>
#include <vector>

namespace ish::bench {

struct PipelineOptions {
  std::vector<std::string> files;  // images, or directories of images (empty: the built-in test images)
  int threads = 1, repeat = 20, rounds = 3;
  int resize = 256, crop = 224;
  bool baseline = true;            // also time tools/pipeline_baseline.py
  std::string baseline_script;     // empty: looked up next to the binary / the working directory
  std::string python = "/usr/bin/python3";
  std::string json;                // write the numbers here too
};
int run_pipeline(const PipelineOptions& o);

struct GpuOptions {
  int iters = 20;
  bool quick = false, models = true, kernels = true, deterministic = false;
  std::string json;
};
int run_gpu(const GpuOptions& o);

}  // namespace ish::bench
