#!/usr/bin/env bash
# CUDA correctness and speed in one go, on a machine with one CUDA GPU: about 5-8 minutes.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        # default OUT_DIR: gpu-check (or $OUT when set)
#
# 1. a tiny search and a tiny training on CUDA (must finish, the loss must fall, the genotype must load);
# 2. search_step.py on CUDA against the plain DARTS baseline, fp32 and with --amp --channels-last;
# 3. train_step.py on CUDA with --amp;
# 4. a latency table on ONNX Runtime's CUDA execution provider (installs the GPU build, rapdarts[gpu], when the
#    CPU build is all there is), validated on fresh networks timed whole on the GPU;
# then one JSON file, OUT_DIR/gpu_check.json, with every result and the pass/fail of each check.
# Nothing here appends to benchmarks/RESULTS.md: copy the numbers there with the date and GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-check}}"
mkdir -p "$out"
log() { echo "[gpu_check $(date +%H:%M:%S)] $*" >&2; }
run() {  # run NAME COMMAND...: stdout to OUT/NAME.out, stderr to OUT/NAME.err, status to OUT/NAME.status
  local name=$1; shift
  log "$name: $*"
  local start=$SECONDS
  "$@" > "$out/$name.out" 2> "$out/$name.err"
  echo "$? $((SECONDS - start))" > "$out/$name.status"
}

python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))" \
  > "$out/device.out" || { log "no CUDA device"; exit 1; }
run search python -m rapdarts search --profile tiny --device cuda --threads 4 --no-progress --run-dir "$out/search"
run train python -m rapdarts train "$out/search" --profile tiny --device cuda --threads 4 --no-progress \
  --run-dir "$out/train" --report-costs params,flops
run search_step_fp32 python benchmarks/search_step.py --device cuda --no-write
run search_step_amp python benchmarks/search_step.py --device cuda --amp --channels-last --no-write
run train_step_amp python benchmarks/train_step.py --device cuda --amp --batch-size 128 --no-write
python -c "import onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()" 2>/dev/null \
  || run install_ort_gpu python -m pip install --quiet "onnxruntime-gpu>=1.17"
run profile_cuda python -m rapdarts profile --out "$out/cuda-table.json" --provider CUDAExecutionProvider \
  --networks 12 --no-progress
run validate_cuda python -m rapdarts validate-latency --table "$out/cuda-table.json" --samples 10 \
  --out "$out/cuda-validation" --no-progress
python benchmarks/gpu_check_summary.py "$out" > "$out/gpu_check.json"
log "results: $out/gpu_check.json"
cat "$out/gpu_check.json"
