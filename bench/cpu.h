// `ishscale bench --cpu`: ResNet eval forward and training step on the CPU backend (bench/cpu.cpp).
#pragma once

namespace ish::bench {
int bench_cpu(int argc, char** argv);
}  // namespace ish::bench
