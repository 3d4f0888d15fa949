"""Interleaved arvr-vio-infer pairs: base (PYTHONPATH=/tmp/base) vs new (the working tree), wall s."""
import os, subprocess, sys, time, statistics, filecmp
pairs = int(sys.argv[1])
exe = "/work/main/.venv/bin/arvr-vio-infer"
model = "/work/main/models/hybrid.safetensors"
walls = {"base": [], "new": []}
for i in range(pairs):
    order = ["base", "new"] if i % 2 == 0 else ["new", "base"]
    for name in order:
        env = dict(os.environ)
        if name == "base":
            env["PYTHONPATH"] = "/tmp/base"
        t = time.perf_counter()
        subprocess.run([exe, "/tmp/prof/b20", "--model", model, "--out", f"/tmp/prof/{name}_{i}.tum"], env=env,
                       cwd="/tmp/prof", check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls[name].append(time.perf_counter() - t)
    same = filecmp.cmp(f"/tmp/prof/base_{i}.tum", f"/tmp/prof/new_{i}.tum", shallow=False)
    print(f"pair {i}: base {walls['base'][-1]:.3f} new {walls['new'][-1]:.3f} identical {same}", flush=True)
for name in ("new", "base"):
    w = sorted(walls[name])
    print(name, " ".join(f"{x:.3f}" for x in w), f"(median {statistics.median(w):.3f}: {20.0 / statistics.median(w):.2f}x)")
