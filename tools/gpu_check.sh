#!/usr/bin/env bash
# The GPU verdict in one run on a fresh CUDA machine (docs/gpu-check.md): build, the gpu test suite,
# compute-sanitizer memcheck on the hand-written kernels, and `ishscale bench` beside PyTorch eager
# (tools/torch_baseline.py) in the same run. Every step has its own time box; the boxes of a full
# run sum to at most 7 minutes, those of --quick (build, suite, a short bench) to at most 3.
# Logs go to $OUT when it is set, else build/gpu_check/. The last 40 lines printed are the summary.
#
#   bash tools/gpu_check.sh [--quick] [--dry-run]
#     --quick    build, gpu suite (model-fixture tests only if fixtures exist), short bench
#     --dry-run  print the steps and their time boxes; needs no GPU and runs nothing
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=full
DRY=0
for a in "$@"; do
  case "$a" in
    --quick) MODE=quick ;;
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown option '$a' (use --quick, --dry-run)" >&2; exit 2 ;;
  esac
done

CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
NVCC="$(command -v nvcc || echo "$CUDA_HOME/bin/nvcc")"
SANITIZER="$CUDA_HOME/bin/compute-sanitizer"
JOBS="$(nproc 2>/dev/null || echo 4)"
LOG="${OUT:-build/gpu_check}"
ITERS="${ITERS:-10}"
BIN=build/ishscale
TESTS=build/ishscale_tests
export ISHSCALE_FIXTURES="$PWD/build/fixtures" ISHSCALE_BIN="$PWD/$BIN"
# The hand-written kernels' tests: small shapes, so they finish under the sanitizer.
MEMCHECK_TESTS='gpu batch_norm*,gpu max_pool2d*,gpu global_avg_pool*,gpu cross_entropy*,gpu element-wise*,gpu sgd_multi*,gpu ish_shape*,gpu normalize_u8*,gpu launchers*,gpu transformer*,gpu attention_softmax*,gpu attn_softmax*,gpu swin ops*'

# Steps: name, time box in seconds, what runs. The fixtures step runs beside the build (one or two
# cores of python while make uses the rest); its box still counts in the sum.
if [ "$MODE" = full ]; then
  LIMIT=420
  STEPS=(preflight build fixtures suite memcheck bench_ours bench_torch summary)
  BOXES=(5 110 40 120 40 55 40 5)
  WHAT=("stb, nvcc, cuDNN, GPU, python3 present (fails in the first second otherwise)"
        "make -j$JOBS CUDA=1 all"
        "python3 tools/make_fixtures.py --only models,transformer,swin (device torch; beside the build)"
        "$TESTS -ts=gpu (every CUDA op, TF32 bounds, ResNet-50 vs CPU, ODIN, models vs torchvision)"
        "compute-sanitizer --tool memcheck --target-processes application-only on the kernel tests"
        "$BIN bench --iters $ITERS (ResNet-50 fp32/TF32 inference bs 1/32/256, training bs 128, ISH step, kernels)"
        "python3 tools/torch_baseline.py --iters $ITERS (the same workloads and keys)"
        "pass/fail per step, failing tests, ratio table")
else
  LIMIT=180
  STEPS=(preflight build suite bench_ours bench_torch summary)
  BOXES=(5 70 60 25 15 5)
  WHAT=("stb, nvcc, cuDNN, GPU, python3 present (fails in the first second otherwise)"
        "make -j$JOBS CUDA=1 all (incremental: --quick is the re-run after a fix)"
        "$TESTS -ts=gpu with cuDNN heuristics (ISHSCALE_CUDNN_FIND=0); models-vs-torchvision tests only when build/fixtures has them"
        "$BIN bench --quick --no-kernels --iters 5 (inference bs 1/32, training bs 32)"
        "python3 tools/torch_baseline.py --quick --no-kernels --iters 5"
        "pass/fail per step, failing tests, ratio table")
fi
box_of() { local i; for i in "${!STEPS[@]}"; do [ "${STEPS[$i]}" = "$1" ] && echo "${BOXES[$i]}"; done; }
TOTAL=0
for b in "${BOXES[@]}"; do TOTAL=$((TOTAL + b)); done

if [ "$DRY" = 1 ]; then
  echo "gpu_check ($MODE) dry run: steps and time boxes; logs would go to $LOG/"
  for i in "${!STEPS[@]}"; do printf "  %-12s %4ss  %s\n" "${STEPS[$i]}" "${BOXES[$i]}" "${WHAT[$i]}"; done
  printf "  %-12s %4ss  (limit %ss = %s min)\n" "total" "$TOTAL" "$LIMIT" "$((LIMIT / 60))"
  [ "$TOTAL" -le "$LIMIT" ] || { echo "gpu_check: time boxes exceed the limit" >&2; exit 1; }
  exit 0
fi

# ---- preflight: cheap checks only, so that a missing piece fails in the first second ----
die() { echo "gpu_check: $*" >&2; exit 2; }
if [ -f /usr/include/stb/stb_image.h ]; then STB=/usr/include/stb
elif [ -f build/deps/stb/stb_image.h ]; then STB=build/deps/stb
else die "no stb headers: neither /usr/include/stb nor build/deps/stb exists. On a machine that has them run 'make gpu-deps' and bring build/deps along."
fi
[ -x "$NVCC" ] || die "nvcc not found (PATH or $CUDA_HOME/bin/nvcc); set CUDA_HOME"
CUDNN_H=
for h in "$CUDA_HOME/include/cudnn.h" /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h; do
  [ -f "$h" ] && CUDNN_H=$h && break
done
[ -n "$CUDNN_H" ] || die "cudnn.h not found in $CUDA_HOME/include or /usr/include (cuDNN 9 headers are required)"
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: no NVIDIA driver on this machine"
GPU="$(timeout 5 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)"
[ -n "$GPU" ] || die "nvidia-smi sees no GPU"
command -v python3 >/dev/null || die "python3 not found (needed for the fixtures and the PyTorch baseline)"
mkdir -p "$LOG" || die "cannot create the log folder $LOG"
echo "gpu_check ($MODE): $GPU; stb from $STB; $JOBS cores; logs in $LOG/"

T0=$(date +%s)
declare -A STATUS SECS
FAILED_TESTS=()
# run_step NAME LOGFILE CMD...: runs CMD under the step's time box; records pass / FAIL / TIMEOUT.
run_step() {
  local name=$1 log=$2 box t0 rc
  shift 2
  box=$(box_of "$name")
  t0=$(date +%s)
  echo "== $name (box ${box}s, t=$((t0 - T0))s): $*"
  timeout --kill-after=5 "$box" "$@" >"$log" 2>&1
  rc=$?
  record "$name" "$rc" "$t0" "$box"
  return "$rc"
}
record() {
  local name=$1 rc=$2 t0=$3 box=$4
  SECS[$name]=$(($(date +%s) - t0))
  if [ "$rc" -eq 0 ]; then STATUS[$name]=pass
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then STATUS[$name]="TIMEOUT after ${box}s"
  else STATUS[$name]="FAIL (exit $rc)"
  fi
}
STATUS[preflight]=pass
SECS[preflight]=$(($(date +%s) - T0))

# ---- fixtures beside the build (full run only) ----
FIX_PID=
if [ "$MODE" = full ]; then
  FIX_T0=$(date +%s)
  mkdir -p build/fixtures
  (ISHSCALE_FIXTURE_THREADS=2 timeout --kill-after=5 "$(box_of fixtures)" \
     python3 tools/make_fixtures.py --out build/fixtures --only models,transformer,swin >"$LOG/fixtures.log" 2>&1) &
  FIX_PID=$!
fi

# ---- build ----
BUILD_OK=1
run_step build "$LOG/build.log" make -j"$JOBS" CUDA=1 all || BUILD_OK=0
grep -m1 "ishscale build:" "$LOG/build.log"
if grep -q "warning:" "$LOG/build.log"; then echo "build warnings: $(grep -c 'warning:' "$LOG/build.log") (see $LOG/build.log)"; fi

if [ -n "$FIX_PID" ]; then
  wait "$FIX_PID"
  record fixtures $? "$FIX_T0" "$(box_of fixtures)"
  echo "== fixtures: ${STATUS[fixtures]} in ${SECS[fixtures]}s"
fi

# ---- gpu suite ----
if [ "$BUILD_OK" = 1 ]; then
  EXCLUDE=()
  [ -f build/fixtures/resnet50_golden.safetensors ] || EXCLUDE=(-tce='models gpu*')
  # --quick ranks cuDNN algorithms by heuristics (no timed Find per shape) to fit its box.
  FIND=1
  [ "$MODE" = quick ] && FIND=0
  ISHSCALE_CUDNN_FIND=$FIND run_step suite "$LOG/gpu_suite.log" "$TESTS" -ts=gpu -d=true "${EXCLUDE[@]}"
  # Failing test cases: the doctest header above each ERROR line names its test case.
  mapfile -t FAILED_TESTS < <(awk '/^TEST CASE:/ { sub(/^TEST CASE: +/, ""); tc = $0 }
    /ERROR|CRASHED/ && tc != "" && !(tc in seen) { seen[tc] = 1; print tc }' "$LOG/gpu_suite.log")
  if [[ "${STATUS[suite]}" == TIMEOUT* ]]; then
    LAST=$(grep -E '^[0-9]+\.[0-9]+ s: ' "$LOG/gpu_suite.log" | tail -1 | sed 's/^[0-9.]* s: //')
    FAILED_TESTS+=("(timed out; last finished: ${LAST:-none})")
  fi
  grep -E "^\[doctest\] test cases" "$LOG/gpu_suite.log" | tail -1
else
  STATUS[suite]="not run (build failed)"
fi

# ---- memcheck ----
MEMCHECK="not run"
if [ "$MODE" = full ]; then
  if [ "$BUILD_OK" != 1 ]; then STATUS[memcheck]="not run (build failed)"
  elif [ ! -x "$SANITIZER" ]; then STATUS[memcheck]="not run ($SANITIZER missing)"
  else
    ISHSCALE_CUDNN_FIND=0 run_step memcheck "$LOG/memcheck.log" "$SANITIZER" --tool memcheck \
      --target-processes application-only --error-exitcode 9 "$TESTS" -ts=gpu -tc="$MEMCHECK_TESTS"
    MEMCHECK="$(grep -m1 'ERROR SUMMARY' "$LOG/memcheck.log" | sed 's/^=* *//')"
    MEMCHECK="${MEMCHECK:-no error summary (${STATUS[memcheck]})}"
    CASES="$(grep -E '^\[doctest\] test cases' "$LOG/memcheck.log" | tail -1 | sed 's/^\[doctest\] //')"
    [ -n "$CASES" ] && MEMCHECK="$MEMCHECK; $CASES"
  fi
fi

# ---- bench, ours then PyTorch's, on the same workloads ----
if [ "$MODE" = full ]; then
  BENCH_ARGS=(--iters "$ITERS")
else
  BENCH_ARGS=(--quick --no-kernels --iters 5)
fi
if [ "$BUILD_OK" = 1 ]; then
  run_step bench_ours "$LOG/bench_ours.log" "$BIN" bench "${BENCH_ARGS[@]}" --json "$LOG/bench_ours.json"
else
  STATUS[bench_ours]="not run (build failed)"
fi
PYTHONUNBUFFERED=1 run_step bench_torch "$LOG/bench_torch.log" python3 tools/torch_baseline.py "${BENCH_ARGS[@]}" \
  --json "$LOG/bench_torch.json"

# ---- summary: the last 40 lines ----
STATUS[summary]=pass
SECS[summary]=0
summary() {
  echo "================ gpu_check summary ($MODE, $(($(date +%s) - T0))s of ${TOTAL}s boxed) ================"
  echo "device: $GPU"
  local s
  for s in "${STEPS[@]}"; do
    [ "$s" = summary ] && continue
    printf "  %-12s %-28s %4ss\n" "$s" "${STATUS[$s]:-not run}" "${SECS[$s]:-0}"
  done
  local nwarn
  nwarn=$(grep -c 'warning:' "$LOG/build.log" 2>/dev/null)
  [ "${nwarn:-0}" -gt 0 ] && echo "build warnings: $nwarn (first: $(grep -m1 'warning:' "$LOG/build.log" | cut -c1-120))"
  if [ "$BUILD_OK" != 1 ]; then
    echo "build errors (first 6; full log $LOG/build.log):"
    grep -m6 -E "error|Error" "$LOG/build.log" | cut -c1-200
  fi
  if [ "${#FAILED_TESTS[@]}" -gt 0 ]; then
    echo "failing tests (${#FAILED_TESTS[@]}; details in $LOG/gpu_suite.log):"
    printf "  %s\n" "${FAILED_TESTS[@]:0:6}" | cut -c1-160
    [ "${#FAILED_TESTS[@]}" -gt 6 ] && echo "  ... and $((${#FAILED_TESTS[@]} - 6)) more"
  elif [ "${STATUS[suite]}" = pass ]; then
    echo "failing tests: none"
  elif [ "$BUILD_OK" = 1 ]; then
    echo "failing tests: none named; the suite's last lines ($LOG/gpu_suite.log):"
    tail -3 "$LOG/gpu_suite.log" | cut -c1-160 | sed 's/^/  /'
  fi
  [ "$MODE" = full ] && echo "memcheck: $MEMCHECK"
  python3 - "$LOG/bench_ours.json" "$LOG/bench_torch.json" <<'PY'
import json, sys
def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except Exception as e:
        print(f"(no {p.rsplit('/', 1)[-1]}: {type(e).__name__})")
        return {}
ours, torch = load(sys.argv[1]), load(sys.argv[2])
if torch:
    print(f"pytorch {torch.get('torch', '?')}, cudnn {torch.get('cudnn', '?')}, "
          f"channels_last={torch.get('channels_last')}, cudnn.benchmark={torch.get('cudnn_benchmark')}")
rows = []
for prec in ("fp32", "tf32"):
    for bs in (1, 32, 256):
        rows.append((f"infer_bs{bs}_{prec}_img_s", 0.9 if bs == 256 else None))
    for bs in (32, 128):
        rows.append((f"train_bs{bs}_{prec}_img_s", 0.9 if bs == 128 else None))
rows = [r for r in rows if r[0] in ours or r[0] in torch]
print(f"{'workload (img/s)':26s} {'ishscale':>9s} {'pytorch':>9s} {'ratio':>6s}  target")
met, targets = 0, 0
for k, target in rows:
    a, b = ours.get(k), torch.get(k)
    targets += target is not None
    if a is None or b is None:
        print(f"{k[:-6]:26s} {'-' if a is None else f'{a:.1f}':>9s} {'-' if b is None else f'{b:.1f}':>9s}")
        continue
    r = a / b
    met += target is not None and r >= target
    verdict = "" if target is None else (f">= {target}x " + ("ok" if r >= target else "MISSED"))
    print(f"{k[:-6]:26s} {a:9.1f} {b:9.1f} {r:5.2f}x  {verdict}")
if "ish_step_ratio" in ours:
    r = ours["ish_step_ratio"]
    print(f"ISH step / plain step (bs 64): {r:.3f}  target <= 1.02 " + ("ok" if r <= 1.02 else "MISSED"))
kern = [k for k in sorted(ours) if k.startswith("kernel_") and k.endswith("_GBps") and k != "kernel_copy_GBps"]
if kern:
    roof = ours.get("copy_GBps")
    print(f"kernels GB/s (copy roof {roof:.0f}), ishscale/pytorch where both ran:" if roof else "kernels GB/s:")
    line = ""
    for k in kern:
        name = k[7:-5]
        cell = f"{name} {ours[k]:.0f}" + (f" ({ours[k] / torch[k]:.2f}x)" if k in torch else "")
        if len(line) + len(cell) > 110:
            print("  " + line.rstrip(", "))
            line = ""
        line += cell + ", "
    if line:
        print("  " + line.rstrip(", "))
if targets:
    print(f"speed targets met: {met} of {targets} (a row without both numbers counts as missed)")
PY
  local verdict=PASS
  for s in "${STEPS[@]}"; do [ "${STATUS[$s]:-not run}" = pass ] || verdict=FAIL; done
  [[ "$MEMCHECK" == *" 0 errors"* || "$MODE" = quick ]] || verdict=FAIL
  echo "verdict: $verdict (steps and memcheck; speed: the targets above; logs: $LOG/)"
}
summary | tee "$LOG/summary.txt"
grep -q "^verdict: PASS" "$LOG/summary.txt"
