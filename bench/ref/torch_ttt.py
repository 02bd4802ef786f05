#!/usr/bin/env python3
"""torch_ttt.py - the PyTorch + Hugging Face transformers baseline that `ttt bench --device cuda`
is compared with (docs/PERF.md). Not part of the product or the tests.

Loads a checkpoint directory written by `ttt init` (or any HF Qwen3/Llama/Gemma3 directory
with the TTT fields) into the upstream HF model in bf16 with SDPA attention, swaps the spec's
In-Place TTT MLP (docs/TTT.md, shared/specs/in-place-ttt.md) into the TTT layers, and times
  - prefill of N tokens (one forward, logits of the last token only), tokens/s;
  - decode after a prefill of D tokens (one token per forward, KV cache), ms/token.
The fast weight S is fp32; its product with the MLP rows uses a bf16 copy refreshed after
each chunk update, as a bf16 engine would. Batch size 1 (the HF TTT path has no batching).

  python3 torch_ttt.py MODEL_DIR [-p 8192,32768] [-d 32768] [-n 32] [-r 2] [--golden]
--golden: MODEL_DIR is a golden fixture; prints the bf16 max relative error of the logits
against expected.safetensors instead of timing.
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from safetensors import safe_open
from transformers import AutoModelForCausalLM


class TTTMLP(torch.nn.Module):
    """Gated MLP whose down-projection is a per-sequence fast weight (spec section 4)."""

    def __init__(self, mlp, cfg, conv_w, proj_w, target_ref):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = mlp.gate_proj, mlp.up_proj, mlp.down_proj
        self.act = mlp.act_fn
        self.C = int(cfg.get("ttt_chunk", 8192))
        self.eta = float(cfg.get("ttt_lr", 0.3))
        self.conv_w = conv_w  # [D, 1, 5]
        self.proj_w = proj_w  # [D, D] used as stored (V = U @ P), or None
        self.causal = bool(cfg.get("ttt_conv_causal", False))
        self.target_ref = target_ref  # dict holding the embedding output, or None
        self.reset()

    def reset(self):
        self.S = None
        self.Sb = None
        self.zt = None
        self.tt = None
        self.tail = 0

    def update(self):
        t, Z = self.tt[: self.C], self.zt[: self.C]
        D = t.shape[1]
        pad = (4, 0) if self.causal else (2, 2)
        U = F.conv1d(F.pad(t.T[None].float(), pad), self.conv_w.float(), groups=D)[0].T
        V = U @ self.proj_w.float() if self.proj_w is not None else U
        self.S.addmm_(V.T, Z.float(), alpha=self.eta)
        self.Sb = self.S.to(torch.bfloat16)
        self.tail = 0

    def forward(self, x):
        Z = self.act(self.gate_proj(x)) * self.up_proj(x)  # [1, n, F]
        t = self.target_ref["emb"] if self.target_ref is not None else x
        if self.S is None:
            self.S = self.down_proj.weight.float().clone()
            self.Sb = self.down_proj.weight.detach()
            Fd, D = Z.shape[-1], x.shape[-1]
            self.zt = torch.empty(self.C, Fd, dtype=Z.dtype, device=Z.device)
            self.tt = torch.empty(self.C, D, dtype=x.dtype, device=x.device)
        n, pos, outs = Z.shape[1], 0, []
        while pos < n:
            k = min(self.C - self.tail, n - pos)
            Zk = Z[0, pos : pos + k]
            outs.append(Zk @ self.Sb.T)
            self.zt[self.tail : self.tail + k] = Zk
            self.tt[self.tail : self.tail + k] = t[0, pos : pos + k]
            self.tail += k
            if self.tail == self.C:
                self.update()
            pos += k
        return torch.cat(outs, 0)[None]


def load(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16, attn_implementation="sdpa"
    ).cuda().eval()
    files = [f for f in os.listdir(model_dir) if f.endswith(".safetensors") and f != "expected.safetensors" and f != "grads.safetensors"]
    extra = {}
    for f in files:
        with safe_open(os.path.join(model_dir, f), "pt", device="cuda") as s:
            for k in s.keys():
                if ".ttt_" in k:
                    extra[k] = s.get_tensor(k).to(torch.bfloat16)
    target = None
    if cfg.get("ttt_target", "hidden_states") == "input_embed":
        target = {}
        emb = model.model.embed_tokens

        def hook(_m, _inp, out):  # Gemma's scaled embedding returns the scaled output
            target["emb"] = out
        emb.register_forward_hook(hook)
    mlps = []
    if cfg.get("ttt_mode", False):
        for i in cfg.get("ttt_layers", []):
            if i >= len(model.model.layers):
                continue
            layer = model.model.layers[i]
            pre = f"model.layers.{i}.mlp."
            m = TTTMLP(layer.mlp, cfg, extra[pre + "ttt_conv.weight"],
                       extra.get(pre + "ttt_proj.weight"), target)
            layer.mlp = m
            mlps.append(m)
    return model, cfg, mlps


def reset(mlps):
    for m in mlps:
        m.reset()


@torch.inference_mode()
def prefill(model, ids, mlps):
    reset(mlps)
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    return out.past_key_values


@torch.inference_mode()
def bench(model, cfg, mlps, args):
    V = cfg["vocab_size"]
    g = torch.Generator().manual_seed(1234)
    rows = []
    for n in args.p:
        ids = torch.randint(0, V, (1, n), generator=g).cuda()
        times = []
        for r in range(args.r + 1):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            prefill(model, ids, mlps)
            torch.cuda.synchronize()
            if r > 0:
                times.append(time.perf_counter() - t0)
        tps = n / (sum(times) / len(times))
        rows.append({"impl": "pytorch+hf", "test": f"pp{n}", "tokens_per_second": tps})
        print(json.dumps(rows[-1]), flush=True)
    for d in args.d:
        ids = torch.randint(0, V, (1, d + args.n), generator=g).cuda()
        per = []
        for r in range(args.r + 1):
            cache = prefill(model, ids[:, :d], mlps)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(args.n):
                out = model(input_ids=ids[:, d + i : d + i + 1], past_key_values=cache,
                            use_cache=True, logits_to_keep=1)
                cache = out.past_key_values
                out.logits.argmax(-1)  # sampling on the GPU, as the engine would
            torch.cuda.synchronize()
            if r > 0:
                per.append((time.perf_counter() - t0) / args.n)
        ms = 1e3 * sum(per) / len(per)
        rows.append({"impl": "pytorch+hf", "test": f"tg{args.n} @ d{d}", "ms_per_token": ms,
                     "tokens_per_second": 1e3 / ms})
        print(json.dumps(rows[-1]), flush=True)
    print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB", flush=True)


@torch.inference_mode()
def golden(model, mlps, model_dir):
    with safe_open(os.path.join(model_dir, "expected.safetensors"), "pt", device="cuda") as s:
        ids = s.get_tensor("input_ids").long()
        ref = s.get_tensor("logits").float()
    reset(mlps)
    got = model(input_ids=ids.reshape(1, -1)).logits.float()
    err = (got - ref.reshape(got.shape)).abs().max() / ref.abs().max()
    print(f"{model_dir}: pytorch+hf bf16 logits max rel err {err.item():.3e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-p", type=lambda s: [int(x) for x in s.split(",") if x], default=[8192])
    ap.add_argument("-d", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("-r", type=int, default=2)
    ap.add_argument("--golden", action="store_true")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    model, cfg, mlps = load(args.model)
    if args.golden:
        golden(model, mlps, args.model)
    else:
        print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, "
              f"{len(mlps)} TTT layers", flush=True)
        bench(model, cfg, mlps, args)


if __name__ == "__main__":
    main()
