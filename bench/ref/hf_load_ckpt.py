#!/usr/bin/env python3
"""Loads a `ttt train` checkpoint with Hugging Face transformers and decodes greedily, TTT off
(transformers has no TTT layers: ttt_conv / ttt_proj are reported as unused weights), to check
that the checkpoint layout is one transformers reads and that it gives the tokens ttt gives:

    ttt run -m CKPT --ids 1,2,3 -n 8 --temp 0 --no-ttt --ids-out --ignore-eos
    python3 bench/ref/hf_load_ckpt.py CKPT 1,2,3 8 "IDS PRINTED BY TTT"
"""
import sys

import torch
from transformers import AutoModelForCausalLM


def main():
    ckpt, prompt, n, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    model = AutoModelForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32)
    model.eval()
    ids = torch.tensor([[int(x) for x in prompt.split(",")]])
    out = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(ids).logits[0, -1].argmax())
            out.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    got = " ".join(map(str, out))
    print(f"transformers greedy: {got}")
    print(f"ttt greedy:          {want}")
    print("identical" if got == want.strip() else "DIFFERENT")
    return 0 if got == want.strip() else 1


if __name__ == "__main__":
    sys.exit(main())
