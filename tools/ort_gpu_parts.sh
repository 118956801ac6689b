#!/usr/bin/env bash
# Prepare onnxruntime-gpu (and the wheels the GPU machine lacks) for tools/device_profile.sh.
# The 247 MB wheel does not fit one device call (64 MiB with the ~27 MB repo), so it is
# unpacked, stripped of what profiling never loads (TensorRT provider, the Python
# transformers/tools/quantization subpackages), packed with zstd (195 MB) and split into
# six 32.5 MB parts under .ortgpu/ (ignored by git). Wheels for jsonschema (the export
# validates manifests with it) and zstandard (to unpack the parts there) go to .whl/.
set -euo pipefail
version=${1:-1.30.0}
top=$(git rev-parse --show-toplevel) && cd "$top"
for d in /.ortgpu/ /.whl/; do grep -qx "$d" .git/info/exclude || echo "$d" >> .git/info/exclude; done
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
get() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" "$@"; }
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
get -d "$work" "onnxruntime-gpu==$version"
mkdir -p "$work/site" && (cd "$work/site" && unzip -q "$work"/*.whl)
rm -rf "$work/site/onnxruntime/capi/libonnxruntime_providers_tensorrt.so" \
  "$work/site/onnxruntime/transformers" "$work/site/onnxruntime/tools" "$work/site/onnxruntime/quantization"
tar cf - -C "$work/site" . | zstd -19 -T0 --long=27 -q -o "$work/ort.tar.zst"
rm -rf .ortgpu && mkdir .ortgpu && split -b 32551000 -d "$work/ort.tar.zst" .ortgpu/z_
sha256sum "$work/ort.tar.zst" | cut -d' ' -f1 > .ortgpu/zsha
rm -rf .whl && get -d .whl jsonschema==4.25.1 jsonschema-specifications==2025.9.1 referencing==0.36.2 \
  rpds-py==0.27.1 attrs==25.3.0 zstandard==0.25.0 typing-extensions==4.15.0
ls -la .ortgpu .whl
