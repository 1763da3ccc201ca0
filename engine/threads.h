// One meaning of "threads" for the whole process: the cores that compute (OpenMP regions, GEMM)
// and decode (image loader workers) may use together.
//
//   int main(int argc, char** argv) { ish::init_process(argc, argv); ... }   // first line of main
//   ish::set_threads(n);   // --threads N; n <= 0 means every core this process may run on
//   int t = ish::threads();
//
// OpenMP threads spin between regions by default; on a machine whose cores are busy with other
// work that makes us 20-60x slower. libgomp reads OMP_WAIT_POLICY once, when it is loaded (before
// main), so init_process re-executes the program once with OMP_WAIT_POLICY=passive unless the user
// set it. GEMM parallelism is ours (OpenMP), never OpenBLAS's own pool beside it.
#pragma once

namespace ish {

// Call first in main: passive OpenMP waiting (re-exec once if needed), heap settings for the large
// short-lived activation buffers, and threads() = every available core.
void init_process(int argc, char** argv);
// Cores to use from now on (OpenMP and the BLAS); n <= 0: every available core.
void set_threads(int n);
// Cores in use (>= 1).
int threads();
// Cores this process may run on (its affinity mask).
int available_cores();

}  // namespace ish
