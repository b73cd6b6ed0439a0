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
# Both binaries carry the default `wgpu` backend too, so the same binaries give the wgpu rows (Burn's CubeCL
# kernels through Vulkan on the same GPU: NVIDIA's Vulkan driver, where the machine has its ICD and the loader).
#
# It probes the machine first (driver, nvidia-smi, where libcuda and libnvrtc are, whether CUDA headers exist:
# cubecl-cuda panics unless CUDA_PATH, /usr/local/cuda, /opt/cuda or nvcc is found; the Vulkan loader and ICDs, and
# `adaptsv devices`), then, most wanted first so that a short lease still brings back the main table: every
# `adaptsv bench` row plus `frozen-bf16` on the plain CUDA build, PyTorch eager with bf16 autocast, the rows on
# wgpu (no bf16 there), the rows on the fusion/autotune build (CUDA, then wgpu), torch.compile. Each step has its
# own time limit (together under TOTAL, below the device's 10 minutes a command) and writes its JSON at once.
# Last, benches/gpu/table.py puts them in one table. Everything goes under $OUT (default ./gpu-out).
#
# Environment: DEVICE (cuda:0; `cuda` means cuda:0; `cpu` runs the same steps on the CPU, to test this script
# without a GPU), WGPU_DEVICE (wgpu:0, the adapter `adaptsv devices` lists first; `none` skips the wgpu rows), BATCH (32), STEPS (5), WARMUP (2), CROP_SECONDS (3), PRESET (wavlm-base-plus; PyTorch always
# builds WavLM Base+), COMPILE (1; 0 skips torch.compile), TOTAL (470: seconds for everything, under the device's
# 10 minutes a command; a step gets at most what is left, and one with under 15 s left is skipped).
# Exit status: 0 when at least one adaptsv row came back, 1 otherwise.
set -uo pipefail
BIN="${1:?usage: device_check.sh PATH/TO/adaptsv-cuda[.gz] [PATH/TO/adaptsv-cuda-fusion[.gz]]}"
BIN_FUSION="${2:-}"
DEVICE="${DEVICE:-cuda:0}"
[ "$DEVICE" = cuda ] && DEVICE=cuda:0
WGPU_DEVICE="${WGPU_DEVICE:-wgpu:0}"
BATCH="${BATCH:-32}"
STEPS="${STEPS:-5}"
WARMUP="${WARMUP:-2}"
CROP_SECONDS="${CROP_SECONDS:-3}"
PRESET="${PRESET:-wavlm-base-plus}"
TOTAL="${TOTAL:-470}"
OUT="${OUT:-./gpu-out}"
mkdir -p "$OUT"
HERE="$(cd "$(dirname "$0")" && pwd)"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
# The time limit for a step that wants $1 seconds: what is left of TOTAL if that is less; 0 = skip it.
limit() {
  local left=$(( TOTAL - ($(date +%s) - start) ))
  if [ "$left" -lt 15 ]; then echo 0; elif [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}

# A gzipped binary is unpacked into a scratch folder removed on exit (the carried copy stays as it is).
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
unpack() {
  case "$1" in
    *.gz)
      local to="$SCRATCH/$(basename "$1" .gz)"
      if gzip -dc "$1" > "$to" && chmod +x "$to"; then echo "$to"; else echo "cannot unpack $1" >&2; return 1; fi ;;
    *) echo "$1" ;;
  esac
}
BIN="$(unpack "$BIN")" || exit 1
if [ -n "$BIN_FUSION" ]; then BIN_FUSION="$(unpack "$BIN_FUSION")" || BIN_FUSION=""; fi

{
  echo "# probe $(date -u +%FT%TZ)"
  echo "## nvidia-smi"; nvidia-smi 2>&1 | head -20 || echo "nvidia-smi: not found"
  echo "## libcuda / libnvrtc"; ldconfig -p 2>/dev/null | grep -E "libcuda\.so|libnvrtc" || echo "not in ldconfig"
  timeout 20 find / -xdev \( -name 'libcuda.so*' -o -name 'libnvrtc.so*' \) 2>/dev/null | head -10
  echo "## CUDA headers (cubecl-cuda needs one of these)"
  echo "CUDA_PATH=${CUDA_PATH:-unset}"
  for d in /usr/local/cuda /opt/cuda; do [ -e "$d/include/cuda.h" ] && echo "$d/include/cuda.h: present" || echo "$d: no include/cuda.h"; done
  command -v nvcc || echo "nvcc: not on PATH"
  echo "## Vulkan (the wgpu rows)"; ldconfig -p 2>/dev/null | grep -E "libvulkan\.so" || echo "no Vulkan loader (libvulkan.so.1)"
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null || echo "no Vulkan ICD folders"
  echo "## adaptsv devices"; timeout 60 "$BIN" devices 2>&1
  echo "## CPU"; lscpu | grep -E "Model name|^CPU\(s\)"
  echo "## python"; python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)" 2>&1
  echo "## adaptsv"; "$BIN" --version 2>&1
} > "$OUT/probe.txt" 2>&1
cat "$OUT/probe.txt"

# adaptsv: one process per row, each with its own limit and its own JSON (`NAME.ROW.json`), so a row that fails
# or runs out of time loses only itself.
ROWS="full-finetune frozen inner-inter lora extract frozen-bf16"
adaptsv_rows() { # BIN NAME SECONDS-PER-ROW [DEVICE [ROWS]]
  local device="${4:-$DEVICE}"
  for row in ${5:-$ROWS}; do
    local lim; lim=$(limit "$3")
    if [ "$lim" = 0 ]; then stamp "adaptsv ($2, $row): skipped, time is up"; continue; fi
    stamp "adaptsv ($2, $row) …"
    timeout -k 10 "$lim" "$1" bench --device "$device" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" \
      --seconds "$CROP_SECONDS" --preset "$PRESET" --json --row "$row" > "$OUT/$2.$row.json" 2> "$OUT/$2.$row.err"
    local rc=$?
    stamp "adaptsv ($2, $row): exit $rc"
    [ "$rc" = 0 ] || { tail -3 "$OUT/$2.$row.err"; rm -f "$OUT/$2.$row.json"; }
  done
}

# PyTorch: eager + bf16 autocast on a GPU (plain f32 on the CPU), optionally compiled.
if [ "$DEVICE" = cpu ]; then TORCH_DEVICE=cpu; AUTOCAST=off; else TORCH_DEVICE="cuda:${DEVICE#cuda:}"; AUTOCAST=bf16; fi
have_torch() {
  python3 -c "import torch, transformers; assert '$TORCH_DEVICE' == 'cpu' or torch.cuda.is_available()" 2>/dev/null
}
pytorch_rows() { # NAME SECONDS [--compile]
  local lim; lim=$(limit "$2")
  if [ "$lim" = 0 ]; then stamp "PyTorch ($1): skipped, time is up"; return; fi
  stamp "PyTorch ($1) …"
  timeout -k 10 "$lim" python3 "$HERE/../pytorch/bench_train.py" --device "$TORCH_DEVICE" --autocast "$AUTOCAST" \
    --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --seconds "$CROP_SECONDS" --json "${@:3}" \
    > "$OUT/$1.json" 2> "$OUT/$1.err"
  local rc=$?
  stamp "PyTorch ($1): exit $rc"
  [ "$rc" = 0 ] || { tail -3 "$OUT/$1.err"; rm -f "$OUT/$1.json"; }
}

# Most wanted first: the plain build's rows, their reference, wgpu, the fusion build, torch.compile.
WGPU_ROWS="full-finetune frozen inner-inter lora extract"  # no bf16 on wgpu: refused up front
adaptsv_rows "$BIN" adaptsv-cuda 40
TORCH_OK=0; have_torch && TORCH_OK=1  # importing torch takes seconds: asked once
if [ "$TORCH_OK" = 1 ]; then
  pytorch_rows pytorch-eager-bf16 120
else
  echo "no PyTorch with CUDA here: the GPU rows have no reference" | tee "$OUT/pytorch-missing.txt"
fi
[ "$WGPU_DEVICE" != none ] && adaptsv_rows "$BIN" adaptsv-wgpu 40 "$WGPU_DEVICE" "$WGPU_ROWS"
[ -n "$BIN_FUSION" ] && adaptsv_rows "$BIN_FUSION" adaptsv-cuda-fusion 30
[ -n "$BIN_FUSION" ] && [ "$WGPU_DEVICE" != none ] && adaptsv_rows "$BIN_FUSION" adaptsv-wgpu-fusion 30 "$WGPU_DEVICE" "$WGPU_ROWS"
[ "${COMPILE:-1}" = 1 ] && [ "$TORCH_OK" = 1 ] && pytorch_rows pytorch-compile-bf16 100 --compile

python3 "$HERE/table.py" "$OUT" > "$OUT/table.md" 2>&1
cat "$OUT/table.md"
stamp "done"
compgen -G "$OUT/adaptsv-*.json" > /dev/null  # the exit status: did any adaptsv row come back?
