#!/usr/bin/env bash
# The GPU benchmark as one prepared script for a lent machine with no package registry and no internet: it builds
# nothing. Build here first and carry the binary:
#
#   cargo build --release --features cuda && cp "$CARGO_TARGET_DIR/release/adaptsv" bench-bin/adaptsv-cuda
#   (device) bash benches/gpu/device_check.sh bench-bin/adaptsv-cuda
#
# It probes the machine first (driver, nvidia-smi, where libcuda and libnvrtc are, whether CUDA headers exist:
# cubecl-cuda panics unless CUDA_PATH, /usr/local/cuda, /opt/cuda or nvcc is found), then runs every
# `adaptsv bench` row on cuda:0 at batch 32, then the PyTorch reference (eager + bf16 autocast, and
# torch.compile) if PyTorch with CUDA is installed there. Everything goes under $OUT (default ./gpu-out).
set -uo pipefail
BIN="${1:?usage: device_check.sh PATH/TO/adaptsv-cuda [BATCH]}"
BATCH="${2:-32}"
OUT="${OUT:-./gpu-out}"
mkdir -p "$OUT"
HERE="$(cd "$(dirname "$0")" && pwd)"

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
  echo "## python"; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1
} > "$OUT/probe.txt" 2>&1
cat "$OUT/probe.txt"

# adaptsv on the GPU: one fresh process per row.
timeout 400 "$BIN" bench --device cuda:0 --batch "$BATCH" --json > "$OUT/adaptsv-gpu.json" 2> "$OUT/adaptsv-gpu.err"
echo "adaptsv bench: exit $?"; tail -5 "$OUT/adaptsv-gpu.err"

if python3 -c "import torch, transformers; assert torch.cuda.is_available()" 2>/dev/null; then
  timeout 300 python3 "$HERE/../pytorch/bench_train.py" --device cuda --autocast bf16 --batch "$BATCH" --json \
    > "$OUT/pytorch-eager-bf16.json" 2> "$OUT/pytorch-eager-bf16.err"
  echo "PyTorch eager bf16: exit $?"
  timeout 300 python3 "$HERE/../pytorch/bench_train.py" --device cuda --autocast bf16 --compile --batch "$BATCH" \
    --json > "$OUT/pytorch-compile-bf16.json" 2> "$OUT/pytorch-compile-bf16.err"
  echo "PyTorch compile bf16: exit $?"
else
  echo "no PyTorch with CUDA on this machine: GPU rows have no reference" | tee "$OUT/pytorch-missing.txt"
fi
