#!/usr/bin/env bash
# The one script to run on a lent GPU machine (about 6 minutes on an H100):
#   1. build with CUDA (make -j16 CUDA=1);
#   2. run the doctest "gpu" suite (every CUDA op vs the CPU reference, ResNet-50 vs CPU, determinism);
#   3. compute-sanitizer memcheck on the per-op part of the suite (ResNet-50 cases excluded: too slow
#      under the sanitizer; cuDNN heuristics instead of timed Find, also for speed);
#   4. `ishscale bench` and tools/torch_baseline.py on the same workloads;
#   5. LAST: a table of ours/PyTorch ratios.
# Logs go to $OUT when set (the device tool fetches them), else build/gpu_check/.
# stb: when the machine lacks /usr/include/stb, carry a copy as build/deps/stb (see PERFORMANCE.md).
set -uo pipefail
cd "$(dirname "$0")/.."
LOG="${OUT:-build/gpu_check}"
mkdir -p "$LOG"
T0=$(date +%s)
step() { echo "== $* (t=$(( $(date +%s) - T0 ))s)"; }
ITERS="${ITERS:-10}"

if [ ! -f /usr/include/stb/stb_image.h ] && [ -f build/deps/stb/stb_image.h ]; then
  export CPATH="$PWD/build/deps${CPATH:+:$CPATH}"
fi

step "build"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$LOG/gpu.txt"
if ! make -j16 CUDA=1 all >"$LOG/build.log" 2>&1; then
  tail -40 "$LOG/build.log"
  echo "BUILD FAILED (log: $LOG/build.log)"
  exit 1
fi
grep -m1 "ishscale build:" "$LOG/build.log"

step "gpu suite"
timeout 240 build/ishscale_tests -ts=gpu >"$LOG/gpu_suite.log" 2>&1
SUITE_RC=$?
grep -E "resnet50 (eval|train)|gpu suite skipped|ERROR|not bitwise" "$LOG/gpu_suite.log" | head -40
tail -3 "$LOG/gpu_suite.log"

step "memcheck"
MC="not run"
if command -v compute-sanitizer >/dev/null; then
  ISHSCALE_CUDNN_FIND=0 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 \
    build/ishscale_tests -ts=gpu -tce='*resnet50*' >"$LOG/memcheck.log" 2>&1
  MC_RC=$?
  MC="$(grep -m1 'ERROR SUMMARY' "$LOG/memcheck.log" || echo "no summary (rc $MC_RC)")"
  [ $MC_RC -eq 124 ] && MC="timed out after 150 s"
  echo "memcheck: $MC (rc $MC_RC)"
fi

step "bench ishscale"
timeout 170 build/ishscale bench --iters "$ITERS" --json "$LOG/bench_ours.json" >"$LOG/bench_ours.log" 2>&1
echo "ishscale bench rc $?"; cat "$LOG/bench_ours.log"

step "bench pytorch"
PYTHONUNBUFFERED=1 timeout 170 python3 tools/torch_baseline.py --iters "$ITERS" --json "$LOG/bench_torch.json" \
  >"$LOG/bench_torch.log" 2>&1
echo "torch baseline rc $?"; cat "$LOG/bench_torch.log"

step "summary"
echo "gpu suite: rc $SUITE_RC ($(tail -2 "$LOG/gpu_suite.log" | head -1))"
echo "memcheck: $MC"
python3 - "$LOG/bench_ours.json" "$LOG/bench_torch.json" <<'PY'
import json, sys
def load(p):
    try:
        return json.load(open(p))
    except Exception as e:
        print(f"(cannot read {p}: {e})")
        return {}
ours, torch = load(sys.argv[1]), load(sys.argv[2])
print(f"device: {ours.get('device', '?')}; torch {torch.get('torch', '?')}, cudnn {torch.get('cudnn', '?')}, "
      f"channels_last={torch.get('channels_last')}, cudnn.benchmark={torch.get('cudnn_benchmark')}")
rows = [(f"infer_bs{b}_{p}_img_s", 0.9 if b == 256 else None) for p in ("fp32", "tf32") for b in (1, 32, 256)]
rows += [(f"train_bs128_{p}_img_s", 0.9) for p in ("fp32", "tf32")]
rows += [(k, None) for k in sorted(ours) if k.startswith("kernel_") and k.endswith("_GBps") and k in torch]
print(f"{'workload':34s} {'ours':>10s} {'pytorch':>10s} {'ratio':>7s}  target")
for k, target in rows:
    a, b = ours.get(k), torch.get(k)
    if a is None or b is None:
        print(f"{k:34s} {'-' if a is None else f'{a:10.1f}':>10s} {'-' if b is None else f'{b:10.1f}':>10s}")
        continue
    r = a / b
    verdict = "" if target is None else (f">= {target}x " + ("ok" if r >= target else "MISSED"))
    print(f"{k:34s} {a:10.1f} {b:10.1f} {r:6.2f}x  {verdict}")
roof = ours.get("copy_GBps")
if roof:
    print(f"copy roof {roof:.0f} GB/s; kernels as % of it: " + ", ".join(
        f"{k[7:-5]} {100 * v / roof:.0f}%" for k, v in sorted(ours.items())
        if k.startswith("kernel_") and k.endswith("_GBps") and k != "kernel_copy_GBps"))
PY
