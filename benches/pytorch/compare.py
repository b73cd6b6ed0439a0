"""Runs `adaptsv bench` and the PyTorch reference (bench_train.py) on this machine, row by row, alternating which
goes first, and prints Markdown: the machine and the libraries each side used, one table with the ratio adaptsv /
PyTorch per row (time, with the spread over rounds, and peak memory), and one of where a training step's time goes
(forward, backward, gradient norm, update) on each side.

    python benches/pytorch/compare.py --adaptsv PATH/TO/adaptsv [--threads 2] [--rounds 3] [--row ROW ...]
                                      [--batch 4] [--steps 5] [--json OUT.json]

Each program runs each row in a fresh process; per round a program's figure is the median of its timed steps, and
the figure kept is the median of the rounds. The spread is the range of the per-round ratios (each round's
adaptsv median over the same round's PyTorch median, the two run back to back). Time ratios below 1 mean adaptsv
is faster.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ["full-finetune", "frozen", "inner-inter", "lora", "extract"]
PHASES = ["forward", "backward", "grad_norm", "update"]


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


def cpu_description():
    """The CPU as lscpu names it, its SIMD flags that matter to the kernels, and the kernel version."""
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    flags = set(info.get("Flags", "").split())
    simd = [f for f in ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile"] if f in flags]
    return {
        "model": info.get("Model name", platform.processor() or platform.machine()),
        "cpus": info.get("CPU(s)", str(os.cpu_count())),
        "simd": " ".join(simd) or "no AVX2",
        "kernel": platform.release(),
    }


def checkout_commit():
    try:
        rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if rev.returncode == 0 else "?"
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adaptsv", required=True, help="the adaptsv binary")
    ap.add_argument("--row", action="append", choices=ROWS)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
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

    cpu = cpu_description()
    h, t = headers["adaptsv"], headers["pytorch"]
    print(f"machine: {cpu['model']}, {cpu['cpus']} CPUs ({cpu['simd']}), Linux {cpu['kernel']}")
    print(f"adaptsv: {h['program']}, {h['build']}; {h.get('libraries', 'libraries not reported')}; "
          f"checkout {checkout_commit()}")
    print(f"PyTorch: {t['program']}; {t.get('libraries', 'libraries not reported')}")
    print(f"{a.threads} threads both; batch {a.batch} x {a.seconds} s (extraction: 1); {a.warmup} warm-up + "
          f"{a.steps} timed steps, median; {a.rounds} alternating rounds; {h['date_utc']}")
    print()
    print("| row | adaptsv ms | PyTorch ms | time ratio | ratio per round | adaptsv MiB | PyTorch MiB | memory ratio "
          "| target met |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---|")
    for row in rows:
        ours, theirs = runs[row]["adaptsv"], runs[row]["pytorch"]
        t_a, t_p = pick(ours, "median_ms"), pick(theirs, "median_ms")
        per_round = [o["median_ms"] / p["median_ms"] for o, p in zip(ours, theirs)]
        spread = " / ".join(f"{r:.2f}" for r in per_round)
        m_a, m_p = pick(ours, "peak_rss_mib"), pick(theirs, "peak_rss_mib")
        if theirs[0].get("peak_device_mib") is not None:
            # On a GPU the memory that matters is the device's: what each allocator held at most (PyTorch's
            # max_memory_reserved; adaptsv samples cubecl's reserved bytes after every step).
            m_p = pick(theirs, "peak_device_mib")
            m_a = pick(ours, "peak_device_mib") if ours[0].get("peak_device_mib") is not None else None
        label = ours[0].get("label", row)
        met = "yes" if t_a <= t_p and (m_a is None or m_a <= 0.7 * m_p) else "no"
        mem_a, ratio = ("not measured", "–") if m_a is None else (f"{m_a:.0f}", f"{m_a / m_p:.2f}")
        print(f"| {label} | {t_a:.0f} | {t_p:.0f} | {t_a / t_p:.2f} | {spread} | {mem_a} | {m_p:.0f} | {ratio} "
              f"| {met} |")
    phased = [r for r in rows if runs[r]["adaptsv"][0].get("phases_ms") and runs[r]["pytorch"][0].get("phases_ms")]
    if phased:
        print()
        print("Where a training step's time goes, ms (median over rounds; adaptsv / PyTorch):")
        print()
        print("| row | forward | backward | gradient norm | update |")
        print("|---|---:|---:|---:|---:|")
        for row in phased:
            cells = []
            for phase in PHASES:
                ours = statistics.median(r["phases_ms"][phase] for r in runs[row]["adaptsv"])
                theirs = statistics.median(r["phases_ms"][phase] for r in runs[row]["pytorch"])
                cells.append(f"{ours:.0f} / {theirs:.0f}")
            print(f"| {runs[row]['adaptsv'][0].get('label', row)} | " + " | ".join(cells) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": cpu, "headers": headers, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
