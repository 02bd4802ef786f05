#!/bin/sh
# Runs every libFuzzer target of a fuzz build for a bounded time, from seed inputs made here.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS
set -eu
build=$1
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$build/fuzz-corpus
mkdir -p "$corpus/safetensors" "$corpus/config" "$corpus/qa" "$corpus/jsonl" "$corpus/shard"
golden=${TTT_GOLDEN:-$root/../shared/golden}
# seeds: the golden configs and small safetensors files when present, else built-in snippets
if [ -d "$golden" ]; then
    cp "$golden"/*/config.json "$corpus/config/" 2>/dev/null || true
    for m in "$golden"/*/; do
        n=$(basename "$m")
        cp "$m/config.json" "$corpus/config/$n.json" 2>/dev/null || true
        cp "$m/expected.safetensors" "$corpus/safetensors/$n" 2>/dev/null || true
    done
fi
printf '{"architectures": ["Qwen3ForCausalLM"], "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "ttt_mode": true, "ttt_layers": [0], "ttt_chunk": 4}' \
    > "$corpus/config/seed.json"
printf '\067\000\000\000\000\000\000\000{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\000\000\200\077' \
    > "$corpus/safetensors/seed"
# QA seeds: the first byte picks the format (even: SQuAD, odd: HotpotQA)
printf '0{"data":[{"paragraphs":[{"context":"c d","qas":[{"question":"q","answers":[{"text":"d"}],"is_impossible":false}]}]}]}' \
    > "$corpus/qa/squad"
printf '1[{"question":"q","answer":"a","context":[["t",["s1"," s2"]],["u",["v"]]]}]' \
    > "$corpus/qa/hotpot"
# shards: a header's start (magic, version 1, vocab 10, 6 tokens, 3 documents), and a whole
# shard that the fuzz build's `ttt data` writes
printf 'TTTSHARD\001\000\000\000\012\000\000\000\006\000\000\000\000\000\000\000\003\000\000\000\000\000\000\000' \
    > "$corpus/shard/seed"
if [ -x "$build/ttt" ]; then
    printf 'hello\nworld\n' > "$build/fuzz-seed.txt"
    rm -rf "$build/fuzz-seed-shards"
    "$build/ttt" data "$build/fuzz-seed.txt" -o "$build/fuzz-seed-shards" --tokenizer byte \
        --txt-docs line 2>/dev/null &&
        cp "$build/fuzz-seed-shards/shard-00000.bin" "$corpus/shard/ttt_data"
fi
printf '{"model":"m","task":"vt","length":4096,"mode":"ttt","index":0,"score":0.5,"prefill_s":1,"decode_s":0.1,"peak_mem_bytes":100}\n{"task":"cwe","len' \
    > "$corpus/jsonl/torn"
status=0
for t in safetensors config qa jsonl shard; do
    echo "fuzz_$t: $seconds s"
    log=$build/fuzz_$t.log
    if ! "$build/tests/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
            -print_final_stats=1 "$corpus/$t" > "$log" 2>&1; then
        status=1
        echo "fuzz_$t FAILED:"
    fi
    tail -n 12 "$log"
done
exit $status
