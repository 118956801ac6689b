#!/usr/bin/env bash
# benchmarks/gpu_decode.py on the lent GPU machine in one device call of at most ~9 minutes
# (docs/performance.md, "GPU decode benchmark"). The project is imported from the working
# tree through symlinks (/tmp/vp/vlmprune/{export,runtime}); onnxruntime-gpu is the
# machine's own, or the tree tools/device_profile.sh unpacked into /tmp/ortsite; wheels in
# .whl/ (jsonschema for the export's manifest check) are installed into /tmp/site first.
#   bash tools/device_gpu_bench.sh                 # everything, results in $OUT
#   STAGES=export,runtime bash tools/device_gpu_bench.sh
# The run stops starting stages at BUDGET_S (default 500 s) and is killed at 530 s; the JSON
# is rewritten after every stage, so a killed run still leaves what finished.
set -uo pipefail
export PYTHONUNBUFFERED=1
mkdir -p /tmp/vp/vlmprune /tmp/site
ln -sfn "$PWD/export" /tmp/vp/vlmprune/export && ln -sfn "$PWD/runtime" /tmp/vp/vlmprune/runtime
export PYTHONPATH=/tmp/ortsite:/tmp/site:/tmp/vp
OUT=${OUT:-/tmp/gpubench-out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || echo "wheel install failed; continuing"
fi
nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
python3 -c "import jsonschema" 2>/dev/null || echo "jsonschema missing: the export stage will fail (carry it in .whl/)"
STAGES=${STAGES:-export,runtime,throughput,transformers,load,memory,weights}
timeout -k 5 530 python3 benchmarks/gpu_decode.py --provider cuda --size realistic \
  --work /tmp/vlmprune-gpubench --out "$OUT/gpu_decode_h200.json" --stages "$STAGES" \
  --budget-s "${BUDGET_S:-500}" --dtypes "${DTYPES:-fp32,fp16}" --fp16-reserve-s "${FP16_RESERVE_S:-200}" \
  --runs 10 --warmup 2 --new-tokens 32 --prompt-length 219 --batches 1,4,16 \
  --torch-dtypes fp32,bf16 --torch-compiled-k 0 --torch-repeats 5 \
  --load-threads 8 --load-requests 50 --load-new-tokens 8 \
  --stage-cap runtime=150 --stage-cap throughput=45 --stage-cap transformers=150 \
  --stage-cap load=90 --stage-cap memory=150 --stage-cap weights=150 \
  2> >(grep -v -i warn >&2)
echo "exit $?"
python3 - "$OUT/gpu_decode_h200.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for name, s in r["stages"].items():
    print(f"{name:<13} {s['status']:<8} {s.get('seconds', 0):6.1f} s  {s.get('error', s.get('why', ''))[:200]}")
PY
