#!/usr/bin/env bash
# The GPU benchmark as one prepared script for a lent machine with no package registry and no internet: it builds
# nothing. Build both CUDA variants here first and carry them, stripped and gzipped (a stripped CUDA binary is
# 61 MiB, 17 MiB gzipped; the working tree and the carried paths travel in 64 MiB together):
#
#   cargo build --release --features cuda        && cp "$CARGO_TARGET_DIR/release/adaptsv" bench-bin/adaptsv-cuda
#   cargo build --release --features cuda-fusion && cp "$CARGO_TARGET_DIR/release/adaptsv" bench-bin/adaptsv-cuda-fusion
#   strip bench-bin/adaptsv-* && gzip -9 bench-bin/adaptsv-*
#   (device) bash benches/gpu/device_check.sh bench-bin/adaptsv-cuda.gz bench-bin/adaptsv-cuda-fusion.gz
#
# It probes the machine first (driver, nvidia-smi, where libcuda and libnvrtc are, whether CUDA headers exist:
# cubecl-cuda panics unless CUDA_PATH, /usr/local/cuda, /opt/cuda or nvcc is found), then, most wanted first so
# that a short lease still brings back the main table: every `adaptsv bench` row plus `frozen-bf16` on the plain
# CUDA build, PyTorch eager with bf16 autocast, the same rows on the fusion/autotune build, torch.compile. Each
# step has its own time limit (together under the device's 10 minutes a command) and writes its JSON at once.
# Last, benches/gpu/table.py puts them in one table. Everything goes under $OUT (default ./gpu-out).
#
# Environment: DEVICE (cuda:0; `cpu` runs the same steps on the CPU, to test this script without a GPU), BATCH
# (32), STEPS (5), WARMUP (2), CROP_SECONDS (3), PRESET (wavlm-base-plus; PyTorch always builds WavLM Base+),
# COMPILE (1; 0 skips torch.compile).
set -uo pipefail
BIN="${1:?usage: device_check.sh PATH/TO/adaptsv-cuda [PATH/TO/adaptsv-cuda-fusion]}"
BIN_FUSION="${2:-}"
DEVICE="${DEVICE:-cuda:0}"
BATCH="${BATCH:-32}"
STEPS="${STEPS:-5}"
WARMUP="${WARMUP:-2}"
CROP_SECONDS="${CROP_SECONDS:-3}"
PRESET="${PRESET:-wavlm-base-plus}"
OUT="${OUT:-./gpu-out}"
mkdir -p "$OUT"
HERE="$(cd "$(dirname "$0")" && pwd)"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }

# A gzipped binary is unpacked beside the output (the carried copy stays as it is).
unpack() {
  case "$1" in
    *.gz) local to="$OUT/bin/$(basename "$1" .gz)"; mkdir -p "$OUT/bin"; gzip -dc "$1" > "$to" && chmod +x "$to"; echo "$to" ;;
    *) echo "$1" ;;
  esac
}
BIN="$(unpack "$BIN")"
[ -n "$BIN_FUSION" ] && BIN_FUSION="$(unpack "$BIN_FUSION")"

{
  echo "# probe $(date -u +%FT%TZ)"
  echo "## nvidia-smi"; nvidia-smi 2>&1 | head -20 || echo "nvidia-smi: not found"
  echo "## libcuda / libnvrtc"; ldconfig -p 2>/dev/null | grep -E "libcuda\.so|libnvrtc" || echo "not in ldconfig"
  find / -xdev \( -name 'libcuda.so*' -o -name 'libnvrtc.so*' \) 2>/dev/null | head -10
  echo "## CUDA headers (cubecl-cuda needs one of these)"
  echo "CUDA_PATH=${CUDA_PATH:-unset}"
  for d in /usr/local/cuda /opt/cuda; do [ -e "$d/include/cuda.h" ] && echo "$d/include/cuda.h: present" || echo "$d: no include/cuda.h"; done
  command -v nvcc || echo "nvcc: not on PATH"
  echo "## CPU"; lscpu | grep -E "Model name|^CPU\(s\)"
  echo "## python"; python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)" 2>&1
  echo "## adaptsv"; "$BIN" --version 2>&1
} > "$OUT/probe.txt" 2>&1
cat "$OUT/probe.txt"

# adaptsv: one fresh process per row (the binary spawns them).
adaptsv_rows() { # BIN NAME LIMIT
  stamp "adaptsv ($2) …"
  timeout "$3" "$1" bench --device "$DEVICE" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" \
    --seconds "$CROP_SECONDS" --preset "$PRESET" --json --row full-finetune --row frozen --row inner-inter --row lora \
    --row extract --row frozen-bf16 > "$OUT/$2.json" 2> "$OUT/$2.err"
  stamp "adaptsv ($2): exit $?"; tail -3 "$OUT/$2.err"
}

# PyTorch: eager + bf16 autocast on a GPU (plain f32 on the CPU), optionally compiled.
if [ "$DEVICE" = cpu ]; then TORCH_DEVICE=cpu; AUTOCAST=off; else TORCH_DEVICE="cuda:${DEVICE#cuda:}"; AUTOCAST=bf16; fi
have_torch() {
  python3 -c "import torch, transformers; assert '$TORCH_DEVICE' == 'cpu' or torch.cuda.is_available()" 2>/dev/null
}
pytorch_rows() { # NAME LIMIT [--compile]
  stamp "PyTorch ($1) …"
  timeout "$2" python3 "$HERE/../pytorch/bench_train.py" --device "$TORCH_DEVICE" --autocast "$AUTOCAST" \
    --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --seconds "$CROP_SECONDS" --json "${@:3}" \
    > "$OUT/$1.json" 2> "$OUT/$1.err"
  stamp "PyTorch ($1): exit $?"; tail -3 "$OUT/$1.err"
}

adaptsv_rows "$BIN" adaptsv-gpu 170
if have_torch; then
  pytorch_rows pytorch-eager-bf16 130
else
  echo "no PyTorch with CUDA here: the GPU rows have no reference" | tee "$OUT/pytorch-missing.txt"
fi
[ -n "$BIN_FUSION" ] && adaptsv_rows "$BIN_FUSION" adaptsv-gpu-fusion 150
[ "${COMPILE:-1}" = 1 ] && have_torch && pytorch_rows pytorch-compile-bf16 100 --compile

python3 "$HERE/table.py" "$OUT" > "$OUT/table.md" 2>&1
cat "$OUT/table.md"
rm -rf "$OUT/bin"  # the unpacked binaries are not results
stamp "done"
