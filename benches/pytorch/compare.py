"""Runs `adaptsv bench` and the PyTorch reference (bench_train.py) on this machine, row by row, alternating which
goes first, and prints one Markdown table with the ratio adaptsv / PyTorch per row (time and peak memory).

    python benches/pytorch/compare.py --adaptsv PATH/TO/adaptsv [--threads 2] [--rounds 2] [--row ROW ...]
                                      [--batch 4] [--steps 5] [--json OUT.json]

Each program runs each row in a fresh process; with several rounds the figure kept per program and row is the
median of the rounds' medians. Time ratios below 1 mean adaptsv is faster.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ["full-finetune", "frozen", "inner-inter", "lora", "extract"]


def run_adaptsv(exe, row, a):
    cmd = [exe, "bench", "--json", "--row", row, "--threads", str(a.threads), "--batch", str(a.batch)]
    cmd += ["--steps", str(a.steps), "--warmup", str(a.warmup), "--seconds", str(a.seconds)]
    cmd += ["--device", a.device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    return report, report["rows"][0]


def run_torch(row, a):
    cmd = [sys.executable, os.path.join(HERE, "bench_train.py"), "--json", "--row", row]
    cmd += ["--threads", str(a.threads), "--batch", str(a.batch), "--steps", str(a.steps)]
    cmd += ["--warmup", str(a.warmup), "--seconds", str(a.seconds), "--autocast", a.autocast]
    cmd += ["--device", "cpu" if a.device == "cpu" else "cuda:" + a.device.split(":")[-1]]
    cmd += ["--compile"] if a.compile else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    return report, report["rows"][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adaptsv", required=True, help="the adaptsv binary")
    ap.add_argument("--row", action="append", choices=ROWS)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N (both programs)")
    ap.add_argument("--autocast", choices=["off", "bf16"], default="off", help="PyTorch side: bf16 autocast")
    ap.add_argument("--compile", action="store_true", help="PyTorch side: torch.compile")
    ap.add_argument("--json", help="also write every measurement here")
    a = ap.parse_args()
    rows = a.row or ROWS
    runs = {r: {"adaptsv": [], "pytorch": []} for r in rows}
    headers = {}
    for k in range(a.rounds):
        for row in rows:
            order = ["adaptsv", "pytorch"] if k % 2 == 0 else ["pytorch", "adaptsv"]
            for who in order:
                print(f"round {k + 1}/{a.rounds}: {row} in {who} …", file=sys.stderr, flush=True)
                report, result = run_adaptsv(a.adaptsv, row, a) if who == "adaptsv" else run_torch(row, a)
                headers[who] = {key: v for key, v in report.items() if key != "rows"}
                runs[row][who].append(result)

    def pick(results, key):
        return statistics.median(r[key] for r in results)

    h = headers["adaptsv"]
    print(f"adaptsv: {h['program']}, {h['build']}; PyTorch: {headers['pytorch']['program']}")
    print(f"machine: {h['machine']}; {a.threads} threads both; batch {a.batch} x {a.seconds} s (extraction: 1); "
          f"{a.warmup} warm-up + {a.steps} timed steps, median; {a.rounds} alternating rounds; {h['date_utc']}")
    print()
    print("| row | adaptsv ms | PyTorch ms | time ratio | adaptsv MiB | PyTorch MiB | memory ratio | target met |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        ours, theirs = runs[row]["adaptsv"], runs[row]["pytorch"]
        t_a, t_p = pick(ours, "median_ms"), pick(theirs, "median_ms")
        m_a, m_p = pick(ours, "peak_rss_mib"), pick(theirs, "peak_rss_mib")
        if theirs[0].get("peak_device_mib") is not None:
            # On a GPU the memory that matters is the device's: what each allocator held at most (PyTorch's
            # max_memory_reserved; adaptsv samples cubecl's reserved bytes after every step).
            m_p = pick(theirs, "peak_device_mib")
            m_a = pick(ours, "peak_device_mib") if ours[0].get("peak_device_mib") is not None else None
        label = ours[0].get("label", row)
        met = "yes" if t_a <= t_p else "no"
        mem_a, ratio = ("not measured", "–") if m_a is None else (f"{m_a:.0f}", f"{m_a / m_p:.2f}")
        print(f"| {label} | {t_a:.0f} | {t_p:.0f} | {t_a / t_p:.2f} | {mem_a} | {m_p:.0f} | {ratio} | {met} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"headers": headers, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
