import pickle, time, sys, numpy as np
from arvr_hybrid_vio.core.window_velocity import solve_window_velocity
calls=pickle.load(open("/tmp/prof/solves20.pkl","rb"))
def run():
    out=[]
    for a,k,_ in calls: out.append(solve_window_velocity(*a,**k))
    return out
run()
best=1e9
for i in range(5):
    t=time.perf_counter(); out=run(); best=min(best,time.perf_counter()-t)
print(f"best {best:.4f} s, {best/len(calls)*1e3:.3f} ms/solve")
# identity check vs captured
diff=0
for (a,k,r),o in zip(calls,out):
    if r is None or o is None: assert (r is None) == (o is None); continue
    diff=max(diff, np.max(np.abs(r.velocity_xyz-o.velocity_xyz)), np.max(np.abs(r.covariance-o.covariance)/np.abs(r.covariance).max()))
print("maxdiff", diff)
if len(sys.argv)>1:
    import cProfile, pstats
    cProfile.run("run()", "/tmp/prof/s.prof"); pstats.Stats("/tmp/prof/s.prof").sort_stats("tottime").print_stats(25)
