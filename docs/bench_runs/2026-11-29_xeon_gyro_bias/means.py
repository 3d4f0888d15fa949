import sys, re, math, collections
for f in sys.argv[1:]:
    d = collections.defaultdict(list)
    for line in open(f):
        if not line.startswith("val_") and not line.startswith("test_"): continue
        for cell in line.split("|"):
            m = re.search(r"(\S+):\s*([\d.]+)/\s*([\d.]+)", cell)
            d[m.group(1)].append(float(m.group(2)))
    print(f)
    for k, v in d.items():
        print(f"  {k:24s} n={len(v)} mean {sum(v)/len(v):7.3f}  geo {math.exp(sum(map(math.log, v))/len(v)):7.3f}")
