"""One Markdown table from the JSON files `device_check.sh` leaves under its output folder: every adaptsv row
(plain CUDA build, and the fusion/autotune build if it ran) against PyTorch eager with bf16 autocast (and
torch.compile if it ran), as throughput ratios (PyTorch time / adaptsv time: above 1 means adaptsv is faster; the
GPU target is 1.2) and device-memory ratios (adaptsv / PyTorch: the target is at most 1).

    python3 benches/gpu/table.py OUT_DIR

The `frozen-bf16` row (adaptsv's frozen backbone in bf16) is compared with PyTorch's `frozen` row. Device memory
is what each allocator held at most (cubecl's reserved bytes sampled after every step; PyTorch's
max_memory_reserved).
"""

import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def by_row(report):
    return {r["row"]: r for r in report["rows"]} if report else {}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "gpu-out"
    ours = [(name, load(os.path.join(out, f))) for name, f in
            [("cuda", "adaptsv-gpu.json"), ("cuda + fusion/autotune", "adaptsv-gpu-fusion.json")]]
    ours = [(name, rep) for name, rep in ours if rep]
    eager = load(os.path.join(out, "pytorch-eager-bf16.json"))
    compiled = load(os.path.join(out, "pytorch-compile-bf16.json"))
    if not ours:
        print("no adaptsv results: see adaptsv-gpu.err and probe.txt")
        return 1
    head = ours[0][1]
    print(f"adaptsv: {head['program']}; device: {head['device']}; machine: {head['machine']}; {head['date_utc']}")
    s = head["settings"]
    print(f"batch {s['batch']} x {s['seconds']} s (extraction: 1); {s['warmup']} warm-up + {s['steps']} timed steps, "
          "median")
    for name, rep in ours:
        print(f"adaptsv build \"{name}\": {rep['build']}")
    for label, rep in [("PyTorch eager", eager), ("PyTorch compile", compiled)]:
        print(f"{label}: {rep['program'] if rep else 'did not run'}")
    print()
    print("| row | build | adaptsv ms | eager bf16 ms | throughput vs eager | adaptsv device MiB | eager MiB "
          "| memory ratio | compile ms | throughput vs compile | target met |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    e_rows, c_rows = by_row(eager), by_row(compiled)
    for name, rep in ours:
        for r in rep["rows"]:
            twin = "frozen" if r["row"] == "frozen-bf16" else r["row"]
            e, c = e_rows.get(twin), c_rows.get(twin)
            t = r["median_ms"]
            mem = r.get("peak_device_mib")
            speed = e["median_ms"] / t if e else None
            mem_ratio = mem / e["peak_device_mib"] if (e and mem and e.get("peak_device_mib")) else None
            met = "–" if speed is None else ("yes" if speed >= 1.2 and (mem_ratio is None or mem_ratio <= 1) else "no")
            f = lambda v, spec: "–" if v is None else format(v, spec)
            print(f"| {r['label']} | {name} | {t:.1f} | {f(e and e['median_ms'], '.1f')} | {f(speed, '.2f')} | "
                  f"{f(mem, '.0f')} | {f(e and e.get('peak_device_mib'), '.0f')} | {f(mem_ratio, '.2f')} | "
                  f"{f(c and c['median_ms'], '.1f')} | {f(c and c['median_ms'] / t, '.2f')} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
