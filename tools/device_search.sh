#!/usr/bin/env bash
# Leave-one-out scores and the beam search of the embedded demo on the lent GPU machine
# (see docs/search.md). Evaluations run in --workers processes on the GPU; the evaluation
# cache comes back in parts (and is restored from .devtmp/cache.tgz when carried), so a
# search cut by the call's time limit resumes where it stopped.
# Usage (device run): [WORKERS=12 SECONDS_LIMIT=540] bash tools/device_search.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 VLMPRUNE_CACHE=/tmp/vlmcache
mkdir -p /tmp/pp/vlmprune && ln -sfn "$PWD/export" /tmp/pp/vlmprune/export && ln -sfn "$PWD/runtime" /tmp/pp/vlmprune/runtime
export PYTHONPATH=/tmp/pp
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
[ -f .devtmp/cache.tgz ] && tar xzf .devtmp/cache.tgz -C /tmp && echo "restored cache"
start=$(date +%s)
timeout "${SECONDS_LIMIT:-540}" python3 -m vlmprune.export.cli search --model demo --device cuda \
  --workers "${WORKERS:-12}" --batch-size 256 --beam-width 4 --max-remove 4 --json \
  > "$OUT/search.json" 2> >(tr '\r' '\n' | grep --line-buffered -v -i warn > "$OUT/search.log")
echo "search rc $? after $(( $(date +%s) - start )) s"
tail -5 "$OUT/search.log"
tar czf "$OUT/scores.tgz" scores/demo 2>/dev/null
tar czf /tmp/cache.tgz -C /tmp vlmcache && split -b 15000000 -d /tmp/cache.tgz "$OUT/cache.part_"
ls -la "$OUT"
