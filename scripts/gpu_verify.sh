#!/bin/sh
# gpu_verify.sh - builds ttt with CUDA on a GPU machine and runs the GPU checks: `ttt verify
# --device cuda` on every golden model in bf16 and in float32, the GPU trainer's gradients and
# AdamW trajectories (--grads, --adamw), then the unit tests (test_cuda and test_cuda_train
# run instead of skipping). The output is what docs/CUDA_VERIFY.md records.
#   usage: scripts/gpu_verify.sh GOLDEN_DIR [BUILD_DIR]
# With DEBS=dir, OpenBLAS, cJSON, PCRE2 and utf8proc are unpacked from the .deb files there
# (for GPU machines without a package registry) instead of being taken from the system.
set -eu
GOLDEN=$(cd "$1" && pwd)
BUILD=${2:-build-gpu}
EXTRA=""
if [ -n "${DEBS:-}" ]; then
  P=/tmp/ttt-deps
  mkdir -p $P
  for f in "$DEBS"/*.deb; do dpkg -x "$f" $P; done
  L=$P/usr/lib/x86_64-linux-gnu
  EXTRA="-DOPENBLAS_INCLUDE=$P/usr/include/x86_64-linux-gnu/openblas-openmp
    -DOPENBLAS_LIB=$L/openblas-openmp/libopenblas.so -DCJSON_INCLUDE=$P/usr/include
    -DCJSON_LIB=$L/libcjson.so -DPCRE2_INCLUDE=$P/usr/include -DPCRE2_LIB=$L/libpcre2-8.so
    -DUTF8PROC_INCLUDE=$P/usr/include -DUTF8PROC_LIB=$L/libutf8proc.so"
  export LD_LIBRARY_PATH=$L/openblas-openmp:$L:${LD_LIBRARY_PATH:-}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTTT_NATIVE=OFF -DTTT_GOLDEN_DIR="$GOLDEN" \
  -DCMAKE_CUDA_ARCHITECTURES="90a-real;90-virtual" $EXTRA >"$BUILD.cmake.log" 2>&1 ||
  { cat "$BUILD.cmake.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" 2>&1 | grep -E "error|warning" || true
rc=0
for m in qwen3 qwen3_embed_tied llama3 gemma3; do
  for p in bf16 f32; do
    echo "\$ ttt verify --device cuda --precision $p $m"
    "$BUILD"/ttt verify --device cuda --precision $p "$GOLDEN/$m" || rc=1
  done
done
for m in qwen3 qwen3_embed_tied llama3 gemma3; do
  for c in grads adamw; do
    echo "\$ ttt verify --device cuda --$c $m"
    "$BUILD"/ttt verify --device cuda --$c "$GOLDEN/$m" || rc=1
  done
done
(cd "$BUILD" && ctest -R "test_reference|test_cuda" --output-on-failure) || rc=1
for m in grad_qwen3_tied_c4 grad_llama_causal_clip_noproj grad_gemma3_embed; do
  echo "\$ ttt verify --device cuda --grads ref_$m"
  "$BUILD"/ttt verify --device cuda --grads "$BUILD/tests/tmp/ref_$m" || rc=1
done
[ -n "${SKIP_CTEST:-}" ] || (cd "$BUILD" && ctest --output-on-failure -j 8) || rc=1
exit $rc
