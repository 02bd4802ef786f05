#!/bin/sh
# gpu_bench.sh - the GPU comparison of docs/PERF.md, in one call on a GPU machine: writes a
# random Qwen3-4B-shaped checkpoint with the authors' TTT settings (layers 0,6,..,30, chunk
# 4096, eta 3), then times `ttt bench --device cuda` (prefill, decode at DEPTH, and 1 vs 16
# sequences decoding together after 1024 and 8192 tokens each) and the PyTorch + HF
# transformers baseline (bench/ref/torch_ttt.py: bf16, SDPA, the spec's TTT MLP) on the same
# weights.
#   usage: scripts/gpu_bench.sh BUILD_DIR [PREFILL_LIST] [DEPTH] [MODEL_DIR]
set -eu
BUILD=$1
PP=${2:-8192,32768}
DEPTH=${3:-32768}
DIR=${4:-/tmp/ttt-qwen3-4b}
[ -f "$DIR/config.json" ] || "$BUILD"/ttt init --preset qwen3-4b -o "$DIR" >/dev/null
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
echo "\$ ttt bench --device cuda -m $DIR -p $PP -n 32 -d $DEPTH -r 2 --ttt on"
"$BUILD"/ttt bench --device cuda -m "$DIR" -p "$PP" -n 32 -d "$DEPTH" -r 2 --ttt on
echo "\$ ttt bench --device cuda -m $DIR -p 0 -n 32 -d 1024,8192 -np 1,16 -r 3 --ttt on"
"$BUILD"/ttt bench --device cuda -m "$DIR" -p 0 -n 32 -d 1024,8192 -np 1,16 -r 3 --ttt on
echo "\$ python3 bench/ref/torch_ttt.py $DIR -p $PP -d $DEPTH -n 32 -r 2"
PYTHONUNBUFFERED=1 python3 bench/ref/torch_ttt.py "$DIR" -p "$PP" -d "$DEPTH" -n 32 -r 2
