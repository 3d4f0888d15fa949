#!/usr/bin/env bash
# The prepared GPU check (issue 7: "prepare one script that runs the CUDA benchmark, run it once with the
# device tool, and record its output"; issue 5: DDP over NCCL). Run from the repository root on a GPU
# machine whose python3 has torch with CUDA, lightning, numpy, scipy, opencv, scikit-image, safetensors,
# PyYAML and tqdm (the lent machines' image does). rosbags and its needs come as wheels in .whl/, for
# that machine's python (3.12 there), downloaded beforehand where pip works:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .whl \
#     rosbags==0.11.9 apsw==3.54.1.0 backports.zstd==1.8.0 lz4==4.4.5 ruamel.yaml==0.19.1
# ROS 2 is not there, so the node over DDS is not measured (--no-node); that part of the table stays the
# CPU machine's.
#
#   OUT=/tmp/gpu_check bash scripts/device/gpu_check.sh      # writes its tables and JSON under $OUT
#
# Stages, each under its own time limit so that one failure leaves the others' results:
#   1. arvr-vio-bench --device cuda, hybrid (eager fp32, CUDA graph, fp16/bf16 autocast, infer on CUDA)
#  1b. the same with config/vio_rig.yaml (visual_velocity.defer_solve: the solve after the pose), 10 s
#   2. the same benchmark on this machine's CPU (the baseline, same machine)
#   3. arvr-vio-bench --device cuda, Multi-Head (shorter)
#   4. scripts/device/ddp_check.py: arvr-vio-train with strategy ddp on every GPU (NCCL)
set -uo pipefail
OUT="${OUT:-/tmp/gpu_check}"
PY="${PYTHON:-python3}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"  # cpu: a dry run of this script on a machine without a GPU
mkdir -p "$OUT"
stage() { echo "=== $(date -u +%H:%M:%S) $*"; }
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

stage "1. bench $DEVICE, hybrid"
timeout 300 "$bin/arvr-vio-bench" --device "$DEVICE" --no-node --json "$OUT/bench_${DEVICE}_hybrid.json" \
  2>"$OUT/bench_${DEVICE}_hybrid.err" | tee "$OUT/bench_${DEVICE}_hybrid.txt"
echo "exit ${PIPESTATUS[0]}"; grep -i "warn\|error" "$OUT/bench_${DEVICE}_hybrid.err" | tail -5

stage "1b. bench $DEVICE, hybrid, the rig config (window solve deferred off the step: the 2 ms attempt)"
timeout 150 "$bin/arvr-vio-bench" --device "$DEVICE" --no-node --config config/vio_rig.yaml --duration 10 \
  --infer-long-duration 0 --json "$OUT/bench_${DEVICE}_hybrid_rig.json" \
  2>"$OUT/bench_${DEVICE}_hybrid_rig.err" | tee "$OUT/bench_${DEVICE}_hybrid_rig.txt"
echo "exit ${PIPESTATUS[0]}"

stage "2. bench cpu, hybrid (same machine)"
timeout 240 "$bin/arvr-vio-bench" --device cpu --no-node --json "$OUT/bench_cpu_hybrid.json" \
  2>"$OUT/bench_cpu_hybrid.err" | tee "$OUT/bench_cpu_hybrid.txt"
echo "exit ${PIPESTATUS[0]}"

stage "3. bench $DEVICE, multihead"
timeout 150 "$bin/arvr-vio-bench" --device "$DEVICE" --no-node --model models/multihead.safetensors \
  --duration 10 --infer-long-duration 0 --json "$OUT/bench_${DEVICE}_multihead.json" \
  2>"$OUT/bench_${DEVICE}_multihead.err" | tee "$OUT/bench_${DEVICE}_multihead.txt"
echo "exit ${PIPESTATUS[0]}"

stage "4. DDP over NCCL"
accelerator=gpu; [[ "$DEVICE" == cpu ]] && accelerator=cpu
timeout 240 "$PY" scripts/device/ddp_check.py "$OUT" --accelerator "$accelerator" --epochs 2
echo "exit $?"
stage done
