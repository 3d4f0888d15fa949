#!/usr/bin/env bash
# Create (or refresh) .venv at the repository root with every dependency pinned,
# generate tf2_msgs into it, and prove the result by importing rclpy and
# round-tripping a TFMessage. Idempotent: a second run with unchanged inputs
# takes about a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.arvr_setup_stamp"
python_bin="${PYTHON:-python3.11}"

say() { printf '[setup] %s\n' "$*" >&2; }

inputs_hash() {
  cat "$root/requirements.txt" "$root/requirements.lock" "$root/setup.py" "$root/scripts/setup_env.sh" \
      "$root"/ros_interfaces/tf2_msgs/{package.xml,CMakeLists.txt,msg/TFMessage.msg} \
    | sha256sum | cut -d' ' -f1
}

need_tools() {
  local missing=()
  for tool in cmake make g++ "$python_bin"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    say "installing build tools for tf2_msgs: ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq cmake make g++ >/dev/null
  fi
}

verify() {
  "$venv/bin/python" - <<'PY'
import rclpy
from rclpy.serialization import serialize_message, deserialize_message
from geometry_msgs.msg import TransformStamped
from tf2_msgs.msg import TFMessage
t = TransformStamped()
t.header.frame_id = "odom"; t.child_frame_id = "base_link"; t.transform.translation.x = 1.5
back = deserialize_message(serialize_message(TFMessage(transforms=[t])), TFMessage)
assert back.transforms[0].child_frame_id == "base_link" and back.transforms[0].transform.translation.x == 1.5
import torch, rosbags, numpy, onnxruntime  # noqa: F401
PY
}

# The shipped models' ONNX exports for estimator.network_runtime auto (onnxruntime on the CPU), in the
# export cache (~/.cache/arvr_hybrid_vio or $ARVR_VIO_CACHE_DIR): about a minute once, then a check that
# the files are there. Without it the first node or test to load a model would export it (~15 s each).
ensure_onnx_exports() {
  "$venv/bin/arvr-vio-export-onnx" "$root"/models/*.safetensors >/dev/null \
    || { say "exporting the shipped models to ONNX failed"; exit 1; }
}

hash="$(inputs_hash)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] && verify 2>/dev/null; then
  ensure_onnx_exports
  say "environment up to date ($venv)"
  exit 0
fi

need_tools
if [[ ! -x "$venv/bin/python" ]]; then
  say "creating $venv with $("$python_bin" --version)"
  "$python_bin" -m venv "$venv"
fi
say "installing pinned dependencies (first run: a few minutes)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt"
say "installing arvr_hybrid_vio (editable) and its console scripts"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$root"

say "generating tf2_msgs into the venv"
build="$venv/.build/tf2_msgs"
rm -rf "$build"; mkdir -p "$build"
(
  export AMENT_PREFIX_PATH="$venv" VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
  # cmake exits 1 at its generate step because the geometry_msgs wheel exports
  # include folders of the machine that built it; the Makefiles are written
  # all the same, and the import check below is what proves the build.
  cmake -S "$root/ros_interfaces/tf2_msgs" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
        -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF >"$build.log" 2>&1 || true
  make -C "$build" -j"$(nproc)" install >>"$build.log" 2>&1 || { say "tf2_msgs build failed; see $build.log"; tail -20 "$build.log" >&2; exit 1; }
)
if ! verify; then
  say "verification failed: rclpy + tf2_msgs round trip did not work"
  exit 1
fi
say "exporting the shipped models to ONNX (first run: about a minute)"
ensure_onnx_exports
echo "$hash" > "$stamp"
say "environment ready ($venv)"
