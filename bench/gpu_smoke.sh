#!/usr/bin/env bash
# GPU smoke run (for a lent GPU machine; never needed by CI): demo data → prepare → Quick preset with --device auto
# → evaluate. Writes the log, metrics.json and evaluation.json under $OUT (or ./gpu-smoke).
# Wheels for packages the GPU image lacks are installed from .whl/ when that folder exists.
set -euo pipefail
OUT="${OUT:-$PWD/gpu-smoke}"; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
export PLATEOPS_HOME=/tmp/plateops-gpu PLATEOPS_CLEARML_MODE=offline PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
  time python3 -m jobs.demo_data --out /tmp/raw --images "${IMAGES:-400}" --seed 0
  python3 -m jobs.prepare --coco /tmp/raw/annotations.json --images /tmp/raw/images --out /tmp/prep
  time python3 -m jobs.train --data /tmp/prep/data.yaml --out /tmp/run --preset quick_cpu --device auto \
    --epochs "${EPOCHS:-12}" --imgsz "${IMGSZ:-320}" --set cache=ram --set workers=8
  python3 -m jobs.evaluate --weights /tmp/run/weights/best.pt --data /tmp/prep/data.yaml --out "$OUT/evaluation.json"
  cp /tmp/run/metrics.json "$OUT/metrics.json"
} 2>&1 | tee "$OUT/gpu_smoke.log"
