#!/usr/bin/env bash
# CUDA profiling of the realistic-size export on the lent GPU machine (docs/performance.md).
# onnxruntime-gpu travels as a stripped, zstd-compressed tree in parts (.ortgpu/z_0N, made
# by tools/ort_gpu_parts.sh) because one call carries at most 64 MiB; every stage runs on
# the same warm machine, one device call each:
#   bash tools/device_profile.sh export     # carry .ortgpu/z_00 and .whl: build + export
#   bash tools/device_profile.sh part N     # carry .ortgpu/z_0N (N = 1..4)
#   bash tools/device_profile.sh profile    # carry .ortgpu/z_05 and .ortgpu/zsha
#   bash tools/device_profile.sh benchmarks
set -uo pipefail
export PYTHONUNBUFFERED=1
mkdir -p /tmp/ortgpu /tmp/vp/vlmprune
ln -sfn "$PWD/export" /tmp/vp/vlmprune/export && ln -sfn "$PWD/runtime" /tmp/vp/vlmprune/runtime
export PYTHONPATH=/tmp/ortsite:/tmp/site:/tmp/vp
M=/tmp/vlmprune-realistic/export/manifest.json
cp .ortgpu/z_0* /tmp/ortgpu/ 2>/dev/null
case "$1" in
  export)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || exit 1
    nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    time python3 benchmarks/profile_export.py --size realistic --out /tmp/vlmprune-realistic \
      2>&1 | grep -v -i warn | tail -12
    ls -la /tmp/vlmprune-realistic/export ;;
  part) ls -la /tmp/ortgpu ;;
  profile)
    cat /tmp/ortgpu/z_0* > /tmp/ort.tar.zst && echo "$(cat .ortgpu/zsha)  /tmp/ort.tar.zst" | sha256sum -c || exit 1
    python3 -c "import zstandard, tarfile; r = zstandard.ZstdDecompressor().stream_reader(open('/tmp/ort.tar.zst', 'rb')); tarfile.open(fileobj=r, mode='r|').extractall('/tmp/ortsite')"
    python3 -c "import onnxruntime as o; o.preload_dlls(); print(o.__version__, o.get_available_providers())"
    python3 -m vlmprune.export.cli profile --manifest $M --provider cuda --interleave --runs 20 --warmup 3 \
      --prompt-tokens 8 --new-tokens 32 --json "$OUT/realistic-cuda.json" --plot "$OUT/realistic-cuda.png" \
      2>&1 | grep -v -i warn | tail -30
    python3 benchmarks/profile_decode.py --manifest $M --provider cuda --rounds 200 --prefill-rounds 20 \
      --json > "$OUT/decode-cuda.json" 2> >(grep -v -i warn | tail -5 >&2)
    cat "$OUT/decode-cuda.json" | head -c 3000 ;;
  benchmarks)
    python3 benchmarks/profile_vs_torch.py --model /tmp/vlmprune-realistic/model --manifest $M \
      --variant blocks_3_4 --provider cuda --runs 10 --warmup 2 --json > "$OUT/vs-torch-cuda.json"
    python3 benchmarks/profile_memory.py --manifest $M --provider cuda --rounds 2 --json > "$OUT/memory-cuda.json"
    python3 benchmarks/profile_switch.py --manifest $M --provider cuda --json > "$OUT/switch-cuda.json"
    python3 -m vlmprune.export.cli profile --manifest $M --provider cpu --interleave --runs 3 --warmup 1 \
      --prompt-tokens 8 --new-tokens 16 --json "$OUT/realistic-cpu-gpuhost.json" 2>&1 | grep -v -i warn | tail -12
    for f in "$OUT"/*.json; do echo "== $f"; head -c 1500 "$f"; echo; done ;;
esac
