#!/usr/bin/env bash
# The prepared GPU check (issue 7: "prepare one script that runs the CUDA benchmark, run it once with the
# device tool, and record its output"; issue 5: DDP over NCCL). Run from the repository root on a GPU
# machine whose python3 has torch with CUDA, lightning, numpy, scipy, opencv, scikit-image, safetensors,
# PyYAML and tqdm (the lent machines' image does). rosbags and its needs come as wheels in .whl/, for
# that machine's python (3.12 there), downloaded beforehand where pip works:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .whl \
#     rosbags==0.11.9 apsw==3.54.1.0 backports.zstd==1.8.0 lz4==4.4.5 ruamel.yaml==0.19.1 \
#     onnxruntime==1.32.0 onnx==1.23.2 onnxscript==0.7.2 onnx-ir==1.1.0 ml_dtypes==0.6.0 protobuf==7.36.2 \
#     flatbuffers==25.12.19
# (the ONNX ones since 2026-11-28: on the CPU, stage 3, estimator.network_runtime auto runs onnxruntime and
# exports the model first; on CUDA it runs torch and needs none of them)
# ROS 2 is not there, so the node over DDS is not measured (--no-node); that part of the table stays the
# CPU machine's.
#
#   OUT=/tmp/gpu_check bash scripts/device/gpu_check.sh      # writes its tables and JSON under $OUT
#
# Stages, most wanted first, each under its own time limit and all under one budget (GPU_CHECK_BUDGET_S,
# default 420 s, so that the device call ends in time to be run again) so that one failure or the end of
# the budget leaves the earlier stages' results (GPU_CHECK_STAGES="1 5" runs only those):
#   1. arvr-vio-bench --device cuda, hybrid, config/vio_rig.yaml (visual_velocity.defer_solve: the solve
#      after the pose, the default everywhere since 2026-11-28 06:38 UTC; tracks on arrival): the 2 ms
#      attempt, with a cProfile of the replay; its sensor-rate row runs the CUDA graph since 2026-11-28
#      (not yet run on a GPU: the first thing to read in its output)
#   2. the same with the default config (config/vio_synthetic.yaml: eager fp32, CUDA graph, fp16/bf16
#      autocast, infer on CUDA; the 60 s infer run left out: start-up bound there, measured 2026-11-27)
#   3. stage 1 on this machine's CPU (the baseline, same machine)
#   4. arvr-vio-bench --device cuda, Multi-Head (shorter)
#   5. scripts/device/cuda_vs_cpu.py: the same bag through arvr-vio-infer on CPU and CUDA
#   6. scripts/device/ddp_check.py: arvr-vio-train with strategy ddp on every GPU (NCCL)
# With GPU_CHECK_ARCHIVE=PATH every stage's files are also packed into that one .tgz after each stage
# (the device tool brings back only a few files).
set -uo pipefail
OUT="${OUT:-/tmp/gpu_check}"
PY="${PYTHON:-python3}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"  # cpu: a dry run of this script on a machine without a GPU
mkdir -p "$OUT"
BUDGET_S="${GPU_CHECK_BUDGET_S:-420}"
ARCHIVE="${GPU_CHECK_ARCHIVE:-}"
STAGES="${GPU_CHECK_STAGES:-}"  # e.g. "1 5": run only these stages (a second call that reruns some)
began=$SECONDS
stage() { echo "=== $(date -u +%H:%M:%S) $*"; }
# limit S: the stage's own limit, or what is left of the budget if that is less (0 when spent)
limit() { local left=$(( BUDGET_S - (SECONDS - began) )); (( left < 0 )) && left=0; echo $(( $1 < left ? $1 : left )); }
pack() { [[ -n "$ARCHIVE" ]] && tar czf "$ARCHIVE" -C "$OUT" . 2>/dev/null; echo "exit $1 ($(( SECONDS - began )) s of $BUDGET_S)"; }
# run_stage NAME LIMIT_S FUNCTION ARGS...: FUNCTION runs its command under `timeout "$T"`; skipped once
# the budget is spent
run_stage() {
  local name=$1; T=$(limit "$2"); shift 2
  if [[ -n "$STAGES" && " $STAGES " != *" ${name%%.*} "* ]]; then return; fi
  if (( T < 10 )); then stage "$name: skipped, budget spent"; return; fi
  stage "$name (limit $T s)"
  "$@"; pack $?
}
py() { timeout "$T" "$PY" "$@"; }
export PYTHONUNBUFFERED=1

stage machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
grep -m1 "model name" /proc/cpuinfo; nproc
"$PY" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', torch.cuda.device_count())"

if [[ "${GPU_CHECK_INSTALL:-1}" == 1 ]]; then
  stage install
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
bin="$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")"
if [[ "${GPU_CHECK_INSTALL:-1}" == 1 ]]; then
  # Not `pip install -e .`: the image's newer setuptools refuses setup.cfg's ament_python [develop]
  # section ("command 'develop' has no such option 'script_dir'"). The source tree goes on PYTHONPATH
  # and the four console scripts the check runs are written next to python3, where the bench looks.
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  # name:module:function, as setup.py's entry points (infer's cli leaves by os._exit once written)
  for entry in bench:bench:main infer:infer:cli eval:eval_cli:main train:train:main; do
    IFS=: read -r name module function <<<"$entry"
    printf '#!%s\nimport sys\nfrom arvr_hybrid_vio.tools.%s import %s\nsys.exit(%s())\n' \
      "$("$PY" -c 'import sys; print(sys.executable)')" "$module" "$function" "$function" > "$bin/arvr-vio-$name"
    chmod +x "$bin/arvr-vio-$name"
  done
fi
"$bin/arvr-vio-bench" --help >/dev/null || { echo "arvr-vio-bench is not installed next to $PY"; exit 1; }

bench() {  # bench NAME ARGS...: arvr-vio-bench --no-node, its table to NAME.txt and stdout, JSON, stderr
  local name=$1; shift
  timeout "$T" "$bin/arvr-vio-bench" --no-node --json "$OUT/$name.json" "$@" 2>"$OUT/$name.err" | tee "$OUT/$name.txt"
  local rc=${PIPESTATUS[0]}; grep -i "warn\|error" "$OUT/$name.err" | tail -5; return "$rc"
}
accelerator=gpu; [[ "$DEVICE" == cpu ]] && accelerator=cpu
run_stage "1. bench $DEVICE, hybrid, the rig config (window solve deferred off the step: the 2 ms attempt)" 170 \
  bench "bench_${DEVICE}_hybrid_rig" --device "$DEVICE" --config config/vio_rig.yaml --duration 20 \
  --infer-long-duration 0 --profile
run_stage "2. bench $DEVICE, hybrid, default config" 150 \
  bench "bench_${DEVICE}_hybrid" --device "$DEVICE" --infer-long-duration 0
run_stage "3. bench cpu, hybrid, the rig config (same machine)" 90 \
  bench bench_cpu_baseline_hybrid_rig --device cpu --config config/vio_rig.yaml --duration 20 --infer-long-duration 0
run_stage "4. bench $DEVICE, multihead" 70 \
  bench "bench_${DEVICE}_multihead" --device "$DEVICE" --model models/multihead.safetensors --duration 10 \
  --infer-long-duration 0
devices=cpu,cuda; [[ "$DEVICE" == cpu ]] && devices=cpu,cpu
run_stage "5. CUDA against CPU, one bag through arvr-vio-infer" 90 \
  py scripts/device/cuda_vs_cpu.py "$OUT/cuda_vs_cpu" --duration 20 --devices "$devices"
run_stage "6. DDP over NCCL" 100 py scripts/device/ddp_check.py "$OUT" --accelerator "$accelerator" --epochs 2
stage done
