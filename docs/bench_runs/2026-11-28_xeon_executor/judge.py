import json, statistics as st, sys
rows=[json.loads(l) for l in open(sys.argv[1])]
A=[r for r in rows if r['label']==sys.argv[2]]; B=[r for r in rows if r['label']==sys.argv[3]]
for a,b in zip(A,B):
    print(a['utc'], "%s 1k cpu %.2f p99 %.1f | 200 cpu %.2f p50 %.2f p99 %.2f  ||  %s 1k cpu %.2f p99 %.1f | 200 cpu %.2f p50 %.2f p99 %.2f | drops %d %d" % (
        sys.argv[2], a['1khz']['cpu_s'], a['1khz']['e2e_p99'], a['200hz']['cpu_s'], a['200hz']['e2e_p50'], a['200hz']['e2e_p99'], sys.argv[3],
        b['1khz']['cpu_s'], b['1khz']['e2e_p99'], b['200hz']['cpu_s'], b['200hz']['e2e_p50'], b['200hz']['e2e_p99'], b['200hz']['drops'], b['1khz']['drops']))
d=[b['1khz']['cpu_s']-a['1khz']['cpu_s'] for a,b in zip(A,B)]
print("cpu diffs", d, "median", st.median(d), "lower in", sum(x<0 for x in d))
print("200 p99 diff median", st.median([b['200hz']['e2e_p99']-a['200hz']['e2e_p99'] for a,b in zip(A,B)]))
print("B kept up & no drops", all(b['1khz']['e2e_p99']<100 and b['1khz']['drops']==0 and b['200hz']['drops']==0 for b in B))
