#!/usr/bin/env bash
# Run one slice of demo training on the lent GPU machine (see docs/demo-model.md).
# Resumes from /tmp/vlmckpt on a warm machine, else from the carried .devtmp/model folder.
# One process per GPU (torchrun); data workers share the CPU cores between them.
# Usage (device run): [TOTAL_STEPS=N BATCH=B LR=X COMPILE=1 INIT=1 PROBE=1] bash tools/device_train.sh MINUTES
#   INIT=1: start from the carried .devtmp/model weights with a fresh optimizer and schedule
#   PROBE=1: first run benchmarks/train_speed.py (step throughput, eager vs compiled)
set -uo pipefail
export PYTHONUNBUFFERED=1
minutes=${1:-9}
mkdir -p /tmp/pp/vlmprune && ln -sfn "$PWD/export" /tmp/pp/vlmprune/export && ln -sfn "$PWD/runtime" /tmp/pp/vlmprune/runtime
export PYTHONPATH=/tmp/pp
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 benchmarks/render_fingerprint.py
if [ -n "${RESUME_REQUIRED:-}" ] && [ ! -f /tmp/vlmckpt/weights.safetensors ] \
  && [ ! -f .devtmp/model/config.json ]; then
  echo "RESUME_REQUIRED set but no checkpoint here (machine went cold?)"; exit 3
fi
if [ -n "${PROBE:-}" ]; then
  python3 benchmarks/train_speed.py --device cuda --batch-sizes 1024 --steps 10 \
    --tokenizer .devtmp/model/tokenizer.json --loader-workers $(( $(nproc) - 2 )) \
    --json "$OUT/train_speed.json" 2>&1 | grep -v -i warn
fi
extra=()
[ -n "${COMPILE:-}" ] && extra+=(--compile)
if [ -n "${INIT:-}" ] && [ ! -f /tmp/vlmckpt/weights.safetensors ]; then
  extra+=(--init-from .devtmp/model)
elif [ ! -f /tmp/vlmckpt/weights.safetensors ] && [ -f .devtmp/model/config.json ]; then
  python3 - <<'PY'
import json, pathlib, shutil, torch
from safetensors.torch import save_file
from transformers import LlavaForConditionalGeneration
src, dst = pathlib.Path(".devtmp/model"), pathlib.Path("/tmp/vlmckpt")
dst.mkdir(parents=True, exist_ok=True)
m = LlavaForConditionalGeneration.from_pretrained(src, dtype=torch.float32)
save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(dst / "weights.safetensors"))
shutil.copy(src / "tokenizer.json", dst / "tokenizer.json")
step = json.loads((src / "training.json").read_text())["step"]
(dst / "state.json").write_text(json.dumps({"step": step}))
print("restored carried model at step", step)
PY
fi
gpus=$(nvidia-smi -L | wc -l)
workers=$(( $(nproc) / gpus - 2 ))
echo "gpus $gpus, $workers data workers per GPU"
python3 -m torch.distributed.run --standalone --nproc_per_node "$gpus" \
  -m vlmprune.export.cli train --out /tmp/vlmout --checkpoint /tmp/vlmckpt \
  --max-minutes "$minutes" --total-steps "${TOTAL_STEPS:-14000}" --workers "$workers" \
  --batch-size "${BATCH:-256}" --lr "${LR:-1e-3}" --eval-every "${EVAL_EVERY:-1000}" "${extra[@]}" \
  2>&1 | grep --line-buffered -v -i warn | tee "$OUT/train.log"
# Bring the model folder back: the weights in parts under the 16 MB per-file limit.
tar czf "$OUT/small.tgz" -C /tmp/vlmout --exclude model.safetensors .
split -b 15000000 -d /tmp/vlmout/model.safetensors "$OUT/weights.part_"
ls -la "$OUT"
