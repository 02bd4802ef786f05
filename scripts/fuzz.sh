#!/bin/sh
# Runs every libFuzzer target of a fuzz build for a bounded time, from seed inputs made here.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS
set -eu
build=$1
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$build/fuzz-corpus
mkdir -p "$corpus/safetensors" "$corpus/config" "$corpus/qa" "$corpus/jsonl" "$corpus/shard" \
    "$corpus/tokenizer" "$corpus/tokenizer_json"
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
# tokenizers: the golden texts (flag byte 0 first) and tokenizer.json files; the text
# target encodes with the Qwen2 golden tokenizer, or a built-in one without the fixtures
tok_dir="$golden/tokenizers/qwen2"
for d in "$golden"/tokenizers/*/; do
    n=$(basename "$d")
    cp "$d/tokenizer.json" "$corpus/tokenizer_json/$n.json" 2>/dev/null || true
done
printf '\000Hello world <|im_start|>user\n caf\303\251 123 \344\270\255' > "$corpus/tokenizer/seed"
printf '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3, "\342\226\201": 4, "<0x61>": 5}, "merges": ["a b"], "byte_fallback": true, "unk_token": "<s>", "fuse_unk": true}, "added_tokens": [{"id": 3, "content": "<s>", "special": true, "lstrip": true}, {"id": 6, "content": "x y", "normalized": true, "single_word": true}], "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Prepend", "prepend": "\342\226\201"}, {"type": "Replace", "pattern": {"Regex": " +"}, "content": "\342\226\201"}]}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\\\p{L}+"}, "behavior": "MergedWithNext", "invert": true}, {"type": "Metaspace", "prepend_scheme": "first"}, {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}]}, "decoder": {"type": "Sequence", "decoders": [{"type": "ByteLevel"}, {"type": "Replace", "pattern": {"String": "\342\226\201"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}, {"type": "Metaspace"}]}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {"<s>": {"ids": [3]}}}}' \
    > "$corpus/tokenizer_json/seed.json"
if [ ! -f "$tok_dir/tokenizer.json" ]; then
    tok_dir="$corpus/tokenizer_json/seed.json"
fi
export TTT_FUZZ_TOKENIZER="$tok_dir"
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
for t in safetensors config qa jsonl shard tokenizer tokenizer_json; do
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
