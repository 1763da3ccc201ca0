#!/usr/bin/env bash
# Every CUDA kernel launch (a line with <<<, the launch may continue on the next lines) must be
# followed within 3 lines by a launch check (CHECK_LAUNCH records the kernel's name for fault
# reports and, with ISHSCALE_SYNC=1, waits for it).
set -u
cd "$(dirname "$0")/.."
bad=$(for f in $(git ls-files '*.cu' '*.cuh' 'engine/cuda/*.cpp' 2>/dev/null); do
  awk -v f="$f" '
    /<<</ && !/^[[:space:]]*\/\// { if (pending) printf "%s:%d\n", f, pending; pending = NR; next }
    pending && /(CUDA_CHECK|cudaGetLastError|CHECK_LAUNCH)/ { pending = 0 }
    pending && NR > pending + 3 { printf "%s:%d\n", f, pending; pending = 0 }
    END { if (pending) printf "%s:%d\n", f, pending }' "$f"
done)
if [ -n "$bad" ]; then echo "kernel launches without a launch check:"; echo "$bad"; exit 1; fi
echo "lint: every kernel launch is checked"
