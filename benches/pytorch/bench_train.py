"""PyTorch reference for `adaptsv bench`: the same rows, computed the same way, in PyTorch + `transformers`.

    python benches/pytorch/bench_train.py [--row ROW ...] [--threads N] [--batch 4] [--json]

Rows (as src/bench.rs): a training step (forward to the AAM-softmax loss, backward, global-norm gradient clipping
at 5, AdamW with per-group learning rates) for
  full-finetune  every Transformer weight trains (CNN feature encoder frozen: `freeze_feature_encoder()`)
  frozen         only the layer weights and the head train; the backbone runs under torch.no_grad()
  inner-inter    parallel adapters beside MHSA and FFN of every layer (b = 32, ReLU, up-projection zero-init)
                 and on every hidden state (b = 64), backbone frozen
  lora           rank-8 LoRA (alpha 16) on the query and value maps of every layer, backbone frozen
and forward-only extraction (torch.inference_mode, batch 1) with the inner-inter model.

Shapes as adaptsv: WavLM Base+ (WavLMConfig defaults are microsoft/wavlm-base-plus's sizes, random init) with
layer drop, time masking and every dropout off (adaptsv has none, so both compute the same thing); the 13 hidden
states each layer-normed (no affine) and summed with softmax weights; the x-vector head (five TDNN layers
Conv1d-ReLU-BatchNorm with 256 channels, the last 768; attentive statistics pooling with a 128-wide attention;
Linear to 256); AAM-softmax (margin 0.2, scale 30) over 1 211 speakers.

HF's WavLM attention reads `q_proj.weight` directly (F.multi_head_attention_forward), so LoRA is added as a
weight parametrisation W + (alpha/r)·B·A (the update is formed once per forward: 768×8×768 multiply-adds per
map, negligible), which is also what a PyTorch user of this model would do.

Each row runs in a fresh process (this script calls itself) so its peak resident memory is its own.

On a GPU (`--device cuda`): `--autocast bf16` runs the forward under torch.autocast (the weights, adapters, head and
optimiser state stay float32), `--compile` wraps the forward in torch.compile; device memory is then
torch.cuda.max_memory_reserved (what the caching allocator held at most; `peak_device_allocated_mib`: the tensors'
own peak), and every timed step ends with torch.cuda.synchronize().
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROWS = ["full-finetune", "frozen", "inner-inter", "lora", "extract"]


def build(row, speakers, torch, nn, F):
    from transformers import WavLMConfig, WavLMModel

    cfg = WavLMConfig()
    cfg.layerdrop = 0.0
    cfg.mask_time_prob = 0.0
    cfg.mask_feature_prob = 0.0
    cfg.apply_spec_augment = False
    for k in ["hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout", "final_dropout"]:
        setattr(cfg, k, 0.0)
    backbone = WavLMModel(cfg)
    hidden, layers = cfg.hidden_size, cfg.num_hidden_layers
    for p in backbone.parameters():
        p.requires_grad_(False)

    class Bottleneck(nn.Module):
        def __init__(self, d, b):
            super().__init__()
            self.down = nn.Linear(d, b)
            self.up = nn.Linear(b, d)
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

        def forward(self, x):
            return self.up(F.relu(self.down(x)))

    class LoraDelta(nn.Module):
        def __init__(self, d_in, d_out, rank, alpha):
            super().__init__()
            self.a = nn.Parameter(torch.empty(rank, d_in))
            nn.init.kaiming_uniform_(self.a, a=5**0.5)
            self.b = nn.Parameter(torch.zeros(d_out, rank))
            self.scaling = alpha / rank

        def forward(self, w):
            return w + self.scaling * (self.b @ self.a)

    inner, inter = None, None
    if row == "full-finetune":
        for p in backbone.parameters():
            p.requires_grad_(True)
        backbone.freeze_feature_encoder()
    elif row in ("inner-inter", "extract"):
        inner = nn.ModuleList()
        for layer in backbone.encoder.layers:
            attn_adapter, ffn_adapter = Bottleneck(hidden, 32), Bottleneck(hidden, 32)
            inner.extend([attn_adapter, ffn_adapter])

            def beside_attention(module, args, kwargs, output, adapter=attn_adapter):
                x = args[0] if args else kwargs["hidden_states"]
                return (output[0] + adapter(x),) + tuple(output[1:])

            def beside_ffn(module, args, output, adapter=ffn_adapter):
                return output + adapter(args[0])

            layer.attention.register_forward_hook(beside_attention, with_kwargs=True)
            layer.feed_forward.register_forward_hook(beside_ffn)
        inter = nn.ModuleList([Bottleneck(hidden, 64) for _ in range(layers + 1)])
    elif row == "lora":
        import torch.nn.utils.parametrize as parametrize

        # The LoRA factors live inside the backbone (proj.parametrizations.weight[0]) and train there.
        for layer in backbone.encoder.layers:
            for proj in (layer.attention.q_proj, layer.attention.v_proj):
                delta = LoraDelta(proj.in_features, proj.out_features, 8, 16.0)
                parametrize.register_parametrization(proj, "weight", delta)

    class Tdnn(nn.Module):
        def __init__(self, c_in, c_out, k, d):
            super().__init__()
            self.conv = nn.Conv1d(c_in, c_out, k, dilation=d)
            self.norm = nn.BatchNorm1d(c_out)

        def forward(self, x):
            return self.norm(F.relu(self.conv(x)))

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            c, stats = 256, 768
            widths = [hidden, c, c, c, c, stats]
            spec = [(5, 1), (3, 2), (3, 3), (1, 1), (1, 1)]
            self.frames = nn.Sequential(*[Tdnn(widths[i], widths[i + 1], k, d) for i, (k, d) in enumerate(spec)])
            self.att_hidden = nn.Conv1d(stats, 128, 1)
            self.att_out = nn.Conv1d(128, stats, 1)
            self.embedding = nn.Linear(2 * stats, 256)
            self.logits = nn.Parameter(torch.zeros(layers + 1))

        def forward(self, states):
            w = torch.softmax(self.logits, 0)
            x = sum(w[i] * F.layer_norm(h, (h.shape[-1],)) for i, h in enumerate(states))
            x = self.frames(x.transpose(1, 2))
            alpha = torch.softmax(self.att_out(torch.tanh(self.att_hidden(x))), dim=2)
            mean = (alpha * x).sum(2)
            std = ((alpha * x * x).sum(2) - mean * mean).clamp(min=1e-10).sqrt()
            return self.embedding(torch.cat([mean, std], 1))

    head = Head()
    classifier = nn.Parameter(torch.empty(speakers, 256))
    nn.init.xavier_uniform_(classifier)
    return backbone, inner, inter, head, classifier


def aam_loss(emb, weight, labels, torch, F, margin=0.2, scale=30.0):
    import math

    cosine = F.linear(F.normalize(emb), F.normalize(weight))
    sine = (1.0 - cosine * cosine).clamp(1e-6, 1.0).sqrt()
    phi = cosine * math.cos(margin) - sine * math.sin(margin)
    th, mm = math.cos(math.pi - margin), 1.0 + math.cos(math.pi - margin)
    phi = torch.where(cosine > th, phi, cosine - mm)
    one_hot = F.one_hot(labels, weight.shape[0]).bool()
    logits = torch.where(one_hot, phi, cosine) * scale
    return F.cross_entropy(logits, labels)


def run_row(args):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    import contextlib

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    row = args.row[0]
    device = torch.device(args.device)
    backbone, inner, inter, head, classifier = build(row, args.speakers, torch, nn, F)
    for m in (backbone, inner, inter, head):
        if m is not None:
            m.to(device)
    classifier = nn.Parameter(classifier.detach().to(device))
    samples = int(round(args.seconds * 16000))
    on_gpu = device.type == "cuda"

    def sync():
        if on_gpu:
            torch.cuda.synchronize(device)

    def autocast():
        if args.autocast == "bf16":
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def states_of(wave):
        if row == "frozen":
            with torch.no_grad():
                return backbone(wave, output_hidden_states=True).hidden_states
        hs = backbone(wave, output_hidden_states=True).hidden_states
        if inter is not None:
            hs = [h + a(h) for h, a in zip(hs, inter)]
        return hs

    if args.compile:
        states_of = torch.compile(states_of)
    modules = [m for m in (backbone, inner, inter, head) if m is not None]
    params = [p for m in modules for p in m.parameters() if p.requires_grad] + [classifier]
    total = sum(p.numel() for m in modules for p in m.parameters()) + classifier.numel()
    trainable = sum(p.numel() for p in params)
    times = []
    parts = []  # per timed training step: forward to the loss, backward, gradient norm, update (ms)
    if row == "extract":
        for m in modules:
            m.eval()
        with torch.inference_mode():
            for i in range(args.warmup + args.steps):
                wave = torch.rand(1, samples, device=device) - 0.5
                sync()
                start = time.perf_counter()
                with autocast():
                    head(states_of(wave))
                sync()
                if i >= args.warmup:
                    times.append((time.perf_counter() - start) * 1e3)
        batch = 1
    else:
        for m in modules:
            m.train()
        backbone_params = [p for p in backbone.parameters() if p.requires_grad]
        other = [p for p in params if all(p is not q for q in backbone_params)]
        groups = [{"params": other, "lr": 5e-4}]
        if backbone_params:
            groups.append({"params": backbone_params, "lr": 5e-5})
        optim = torch.optim.AdamW(groups, weight_decay=1e-4)
        batch = args.batch
        for i in range(args.warmup + args.steps):
            wave = torch.rand(batch, samples, device=device) - 0.5
            labels = torch.randint(0, args.speakers, (batch,), device=device)
            sync()
            start = time.perf_counter()
            marks = []
            mark = lambda: marks.append((time.perf_counter() - start) * 1e3)
            with autocast():
                emb = head(states_of(wave))
            loss = aam_loss(emb.float(), classifier, labels, torch, F)
            loss.item()
            mark()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            # On the CPU every call returns when its work is done, so the marks are the parts' times (on a GPU
            # they are not, and no extra synchronisation is added: the step is timed as before).
            mark()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            mark()
            optim.step()
            sync()
            mark()
            if i >= args.warmup:
                times.append(marks[3])
                parts.append([marks[0], marks[1] - marks[0], marks[2] - marks[1], marks[3] - marks[2]])
    median = statistics.median(times)
    return {
        "row": row,
        "batch": batch,
        "seconds": args.seconds,
        "times_ms": times,
        "median_ms": median,
        "min_ms": min(times),
        "max_ms": max(times),
        "utterances_per_sec": batch / (median / 1e3),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        # Memory the caching allocator held at its peak (what adaptsv reports from cubecl's allocator), and the
        # tensors' own peak.
        "peak_device_mib": torch.cuda.max_memory_reserved(device) / 2**20 if on_gpu else None,
        "peak_device_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20 if on_gpu else None,
        "trainable_params": trainable if row != "extract" else 0,
        # As adaptsv's `phases_ms` (on the CPU only: a GPU's calls return before the work is done).
        "phases_ms": None if (not parts or on_gpu) else dict(zip(
            ["forward", "backward", "grad_norm", "update"],
            [statistics.median(p[i] for p in parts) for i in range(4)])),
        "total_params": total,
    }


def torch_libraries(torch):
    """What PyTorch's CPU kernels come from: its BLAS (and MKL's version), oneDNN's version, the SIMD level it
    chose."""
    import re

    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    mkl = re.search(r"Math Kernel Library Version ([\d.]+)", config)
    onednn = re.search(r"(?:MKL-DNN|oneDNN) (v[\d.]+)", config)
    parts = [
        f"BLAS {blas.group(1)}" if blas else "BLAS unknown",
        f"MKL {mkl.group(1)}" if mkl else None,
        f"oneDNN {onednn.group(1)}" if onednn else None,
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}",
    ]
    return ", ".join(p for p in parts if p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--row", action="append", choices=ROWS)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--speakers", type=int, default=1211)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--autocast", choices=["off", "bf16"], default="off")
    ap.add_argument("--compile", action="store_true", help="torch.compile the forward")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    rows = args.row or ROWS
    if args.in_process:
        args.row = rows[:1]
        print(json.dumps(run_row(args)))
        return
    results = []
    for row in rows:
        cmd = [sys.executable, __file__, "--in-process", "--row", row, "--threads", str(args.threads)]
        cmd += ["--batch", str(args.batch), "--seconds", str(args.seconds), "--warmup", str(args.warmup)]
        cmd += ["--steps", str(args.steps), "--speakers", str(args.speakers), "--device", args.device]
        cmd += ["--autocast", args.autocast] + (["--compile"] if args.compile else [])
        # A row that fails (out of memory, a compile error) is reported and left out; the others still run.
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not done.stdout.strip():
            print(f"row {row} failed (exit {done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if not results:
        sys.exit("no row ran: see the errors above")
    import torch
    import transformers

    report = {
        "program": f"PyTorch {torch.__version__}, transformers {transformers.__version__}, "
        f"{'torch.compile' if args.compile else 'eager'}, {'bf16 autocast' if args.autocast == 'bf16' else 'float32'}, "
        f"{args.device}",
        "machine": platform.processor() or platform.machine(),
        "libraries": torch_libraries(torch),
        "threads": args.threads,
        "rows": results,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{report['program']}, {args.threads} threads, batch {args.batch}, {args.seconds} s crops")
        print("| row | median ms | min–max ms | utt/s | peak MiB | trainable |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            print(
                f"| {r['row']} | {r['median_ms']:.0f} | {r['min_ms']:.0f}–{r['max_ms']:.0f} | "
                f"{r['utterances_per_sec']:.2f} | {r['peak_rss_mib']:.0f} | {r['trainable_params']} |"
            )


if __name__ == "__main__":
    main()
