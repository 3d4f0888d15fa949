"""Rule 22's reading: mean ATE per rate over the 8 fresh sequences (head, walking x seeds 25-28), shipped vs r22."""
import json
D = "data_out/trial22"
sets = {name: [r for motion in ("head", "walking") for r in json.load(open(f"{D}/{name}_{motion}.json"))]
        for name in ("shipped", "r22")}
rates = ("rate=15", "rate=20", "rate=30", "rate=40")
print("Rule 22, measure (b): mean ATE cm per rate over 8 fresh sequences (head, walking x seeds 25-28), 2-core AMD EPYC")
print("per sequence (hybrid / Multi-Head):")
for r in sorted(sets["shipped"], key=lambda r: (float(r["variant"].split("=")[1]), r["motion"], r["seed"])):
    k = (r["variant"], r["motion"], r["seed"])
    cells = []
    for name in sets:
        m = next(x for x in sets[name] if (x["variant"], x["motion"], x["seed"]) == k)
        cells.append(f"{name} {m['hybrid_ate_cm']:6.2f} / {m['multihead_ate_cm']:6.2f}")
    print(f"  {r['variant']:8s} {r['motion']:8s} {r['seed']} " + "   ".join(cells) + f"   imu-only {r['imu-only_ate_cm']:6.2f}")
means = {}
print(f"{'set':8s} {'model':10s} " + " ".join(f"{v:>8s}" for v in rates) + "   rate mean")
for name in sets:
    for model in ("hybrid", "multihead", "imu-only"):
        vals = []
        for v in rates:
            xs = [r[f"{model}_ate_cm"] for r in sets[name] if r["variant"] == v]
            assert len(xs) == 8, (name, v, len(xs))
            vals.append(sum(xs) / 8)
        means[(name, model)] = vals
        print(f"{name:8s} {model:10s} " + " ".join(f"{x:8.3f}" for x in vals) + f" {sum(vals) / 4:9.3f}")
s, h = means[("shipped", "hybrid")], means[("r22", "hybrid")]
c1 = sum(h) / 4 <= 0.85 * sum(s) / 4
c2 = max(h) < max(s)
c3 = h[2] <= 1.25 * s[2]
print(f"1. rate mean {sum(h) / 4:.3f} <= 0.85 x {sum(s) / 4:.3f} = {0.85 * sum(s) / 4:.3f}: {c1}")
print(f"2. worst rate {max(h):.3f} < {max(s):.3f}: {c2}")
print(f"3. 30 Hz {h[2]:.3f} <= 1.25 x {s[2]:.3f} = {1.25 * s[2]:.3f}: {c3}")
print("4. validation: see val_trial.txt (limits hybrid 12.92, Multi-Head 13.17 cm)")
