import json, collections
B = "docs/bench_runs"
sets = {"shipped": [f"{B}/2026-11-29_epyc_flow_per_period/rates_head.json", f"{B}/2026-11-29_epyc_flow_per_period/rates_walking.json",
                    "data_out/wide/shipped_head.json", "data_out/wide/shipped_walking.json"],
        "r19": [f"{B}/2026-11-29_epyc_rate_strides/rates_head.json", f"{B}/2026-11-29_epyc_rate_strides/rates_walking.json",
                "data_out/wide/r19_head.json", "data_out/wide/r19_walking.json"],
        "r20": [f"{B}/2026-11-29_epyc_rate_strides_30hz_share/rates_head.json", f"{B}/2026-11-29_epyc_rate_strides_30hz_share/rates_walking.json",
                "data_out/wide/r20_head.json", "data_out/wide/r20_walking.json"]}
rows = {name: [r for f in files for r in json.load(open(f))] for name, files in sets.items()}
rates = ("rate=15", "rate=20", "rate=30", "rate=40")
print("Measure 21: mean ATE cm per rate over 8 sequences (head, walking x seeds 21-24; 21-22 from the rule runs, 23-24 at 10:14-10:25 UTC), 2-core AMD EPYC")
print("per sequence, new seeds (hybrid / Multi-Head):")
for r in sorted(rows["shipped"], key=lambda r: (float(r["variant"].split("=")[1]), r["motion"], r["seed"])):
    if r["seed"] < 23: continue
    k = (r["variant"], r["motion"], r["seed"])
    cells = []
    for name in sets:
        m = next(x for x in rows[name] if (x["variant"], x["motion"], x["seed"]) == k)
        cells.append(f"{name} {m['hybrid_ate_cm']:6.2f} / {m['multihead_ate_cm']:6.2f}")
    print(f"  {r['variant']:8s} {r['motion']:8s} {r['seed']} " + "   ".join(cells) + f"   imu-only {r['imu-only_ate_cm']:6.2f}")
means = {}
print(f"{'set':8s} {'model':10s} " + " ".join(f"{v:>8s}" for v in rates) + "   mean")
for name in sets:
    for model in ("hybrid", "multihead", "imu-only"):
        vals = []
        for v in rates:
            xs = [r[f"{model}_ate_cm"] for r in rows[name] if r["variant"] == v]
            assert len(xs) == 8, (name, v, len(xs))
            vals.append(sum(xs) / 8)
        means[(name, model)] = vals
        print(f"{name:8s} {model:10s} " + " ".join(f"{x:8.3f}" for x in vals) + f" {sum(vals)/4:7.3f}")
s = means[("shipped", "hybrid")]
for name in ("r19", "r20"):
    h = means[(name, "hybrid")]
    ok = h[0] < s[0] and h[1] < s[1] and h[2] <= 1.05 * s[2] and h[3] <= 1.05 * s[3]
    print(f"{name}: 15 Hz {h[0]:.3f} < {s[0]:.3f}: {h[0] < s[0]}; 20 Hz {h[1]:.3f} < {s[1]:.3f}: {h[1] < s[1]}; "
          f"30 Hz {h[2]:.3f} <= {1.05*s[2]:.3f}: {h[2] <= 1.05*s[2]}; 40 Hz {h[3]:.3f} <= {1.05*s[3]:.3f}: {h[3] <= 1.05*s[3]} -> candidate: {ok}; worst rate {max(h):.3f}")
print(f"shipped hybrid worst rate {max(s):.3f}")
