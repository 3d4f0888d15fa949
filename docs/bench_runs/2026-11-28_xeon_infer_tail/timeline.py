import os, sys, time
T0 = float(os.environ["T0"])
def mark(what): print(f"TL {what} {time.time()-T0:.3f} cpu {time.process_time():.3f}", file=sys.stderr, flush=True)
mark("python-start")
from arvr_hybrid_vio.tools import infer
mark("imports")
infer.LEAVE_TRACKS_BELOW = int(os.environ.get("LV","2"))
orig_reader = infer.bag_reader
def bag_reader(*a, **k):
    mark("child-start")
    n = 0
    for item in orig_reader(*a, **k):
        if n == 0: mark("child-camera")
        if n == 1: mark("child-first-frame")
        n += 1
        yield item
    mark("child-last-frame")
infer.bag_reader = bag_reader
orig_from = infer.VioEstimator.from_file
def from_file(*a, **k):
    mark("load-start"); r = orig_from(*a, **k); mark("load-end"); return r
infer.VioEstimator.from_file = from_file
orig_run = infer.run_estimator
def run_estimator(est, frames, **k):
    mark("run-start")
    def it():
        first = True
        for f in frames:
            if first: mark("main-first-frame"); first = False
            yield f
        mark("main-last-frame")
    k["lookahead"]=int(os.environ.get("LA", k.get("lookahead", 16))); r = orig_run(est, it(), **k); mark("run-end"); return r
infer.run_estimator = run_estimator
code = infer.main(sys.argv[1:])
mark("main-end")
os._exit(code)
