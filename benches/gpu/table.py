"""One Markdown table from the JSON files `device_check.sh` leaves under its output folder: every adaptsv row
(plain CUDA build, and the fusion/autotune build if it ran) against PyTorch eager with bf16 autocast (and
torch.compile if it ran), as throughput ratios (PyTorch time / adaptsv time: above 1 means adaptsv is faster; the
GPU target is 1.2) and device-memory ratios (adaptsv / PyTorch: the target is at most 1).

    python3 benches/gpu/table.py OUT_DIR

The `frozen-bf16` row (adaptsv's frozen backbone in bf16) is compared with PyTorch's `frozen` row. Device memory
is what each allocator held: PyTorch's max_memory_reserved is an exact peak; adaptsv samples cubecl's reserved
bytes after every step, a lower bound of its peak (memory taken and given back within a step is not seen). A row
whose adaptsv memory was not read is judged on speed alone ("speed only").

adaptsv's rows come one file per row (`adaptsv-cuda.ROW.json`, `adaptsv-wgpu.ROW.json`,
`adaptsv-cuda-fusion.ROW.json`, `adaptsv-wgpu-fusion.ROW.json`); one report (`adaptsv-cuda.json`) is read too.
"""

import glob
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


def merged(out, name):
    """The adaptsv report of build `name`: its rows gathered from `name.ROW.json` (or `name.json`), in file order
    of the rows as device_check.sh runs them; the header of the first."""
    order = ["full-finetune", "frozen", "inner-inter", "lora", "extract", "frozen-bf16"]
    reports = [r for r in (load(p) for p in sorted(glob.glob(os.path.join(out, f"{name}.*.json")))) if r]
    single = load(os.path.join(out, f"{name}.json"))
    if single:
        reports.append(single)
    if not reports:
        return None
    head = {k: v for k, v in reports[0].items() if k != "rows"}
    rows = [row for rep in reports for row in rep.get("rows", [])]
    rows.sort(key=lambda r: order.index(r["row"]) if r["row"] in order else len(order))
    head["rows"] = rows
    return head


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "gpu-out"
    builds = [("cuda", "adaptsv-cuda"), ("wgpu (Vulkan)", "adaptsv-wgpu"),
              ("cuda + fusion/autotune", "adaptsv-cuda-fusion"), ("wgpu + fusion/autotune", "adaptsv-wgpu-fusion")]
    ours = [(name, merged(out, f)) for name, f in builds]
    ours = [(name, rep) for name, rep in ours if rep and rep["rows"]]
    eager = load(os.path.join(out, "pytorch-eager-bf16.json"))
    compiled = load(os.path.join(out, "pytorch-compile-bf16.json"))
    if not ours:
        print("no adaptsv results: see adaptsv-cuda.*.err and probe.txt")
        return 1
    head = ours[0][1]
    print(f"adaptsv: {head['program']}; device: {head['device']}; machine: {head['machine']}; {head['date_utc']}")
    s = head["settings"]
    print(f"batch {s['batch']} x {s['seconds']} s (extraction: 1); {s['warmup']} warm-up + {s['steps']} timed steps, "
          "median")
    if s.get("preset") != "wavlm-base-plus":
        print(f"warning: adaptsv ran preset {s.get('preset')!r}; PyTorch always builds WavLM Base+, so the ratios "
              "compare different models")
    for name, rep in ours:
        print(f"adaptsv build \"{name}\": {rep['build']}; device: {rep['device']}")
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
            if speed is None:
                met = "–"
            elif mem_ratio is None:
                met = "speed only: " + ("yes" if speed >= 1.2 else "no")
            else:
                met = "yes" if speed >= 1.2 and mem_ratio <= 1 else "no"
            f = lambda v, spec: "–" if v is None else format(v, spec)
            print(f"| {r['label']} | {name} | {t:.1f} | {f(e and e['median_ms'], '.1f')} | {f(speed, '.2f')} | "
                  f"{f(mem, '.0f')} | {f(e and e.get('peak_device_mib'), '.0f')} | {f(mem_ratio, '.2f')} | "
                  f"{f(c and c['median_ms'], '.1f')} | {f(c and c['median_ms'] / t, '.2f')} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
