#!/usr/bin/env python3
"""Reference encode speed of Hugging Face `tokenizers` on the file `ttt tokenize --bench` reads.

    ttt tokenize --bench-text 4 > mixed.txt
    ttt tokenize --tokenizer DIR --bench mixed.txt          # ours
    python3 bench/ref/tok_hf.py DIR/tokenizer.json mixed.txt # HF, one thread, same text
    ttt tokenize --tokenizer DIR -f mixed.txt > ours.ids
    python3 bench/ref/tok_hf.py DIR/tokenizer.json mixed.txt --compare ours.ids

Encodes the whole file as one string (add_special_tokens=False), as ttt does, best of -r runs.
--compare checks that the ids equal ttt's (space-separated, one line) and names the first
difference.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # single-threaded, like ttt
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import Tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer", help="tokenizer.json, or a directory holding one")
    ap.add_argument("text", help="UTF-8 text file")
    ap.add_argument("-r", type=int, default=3, help="repetitions (best is reported)")
    ap.add_argument("--compare", help="ids printed by `ttt tokenize` for the same file")
    a = ap.parse_args()
    path = a.tokenizer
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    tok = Tokenizer.from_file(path)
    data = open(a.text, "rb").read()
    text = data.decode("utf-8")
    best = float("inf")
    ids = None
    for _ in range(a.r):
        t0 = time.perf_counter()
        ids = tok.encode(text, add_special_tokens=False).ids
        best = min(best, time.perf_counter() - t0)
    print(f"{a.text}: {len(data)} bytes, {len(ids)} tokens")
    print(f"HF tokenizers encode: {len(data) / best / 1e6:.2f} MB/s (best of {a.r}, {best:.3f} s), 1 thread")
    if a.compare:
        ours = [int(x) for x in open(a.compare).read().split()]
        if ours == ids:
            print(f"ids identical to {a.compare} ({len(ids)} tokens)")
            return 0
        n = next((i for i, (x, y) in enumerate(zip(ours, ids)) if x != y), min(len(ours), len(ids)))
        print(f"ids DIFFER at {n}: ttt {ours[n:n + 8]} vs HF {ids[n:n + 8]} "
              f"({len(ours)} vs {len(ids)} tokens)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
