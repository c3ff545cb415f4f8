#!/usr/bin/python3
"""Times the same ViT in plain PyTorch (Debian's python3-torch), for BENCHMARKS.md.

Loads a questbench/timm-layout safetensors checkpoint (config in the metadata) into a minimal
PyTorch module written here with timm's layout and semantics, checks it against logits that
questbench wrote for the same inputs, and reports images/s for forward passes (no grad).

usage: bench_python_vit.py CKPT INPUTS.npy QUESTBENCH_LOGITS.npy --threads N --batch-size B --repeats R
"""
import argparse
import json
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[name] = torch.from_numpy(arr.copy()).float()
    return tensors, json.loads(meta["config"])


class ViT(torch.nn.Module):
    def __init__(self, w, c):
        super().__init__()
        self.w, self.c = w, c
        self.heads = c["num_heads"]

    def attention(self, x, i):
        w, B, N, E = self.w, *x.shape
        H = self.heads
        D = E // H
        qkv = F.linear(x, w[f"blocks.{i}.attn.qkv.weight"], w.get(f"blocks.{i}.attn.qkv.bias"))
        q, k, v = qkv.reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4)
        kind = self.c.get("attention", "standard")
        if kind == "standard":
            logits = (q * D ** -0.5) @ k.transpose(-2, -1)
        elif kind == "quest":
            logits = q @ (k / (k.norm(dim=-1, keepdim=True) + 1e-6)).transpose(-2, -1)
        else:
            raise SystemExit("only standard and quest are timed")
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(B, N, E)
        return F.linear(out, w[f"blocks.{i}.attn.proj.weight"], w[f"blocks.{i}.attn.proj.bias"])

    def forward(self, x01):
        w, c = self.w, self.c
        mean = torch.tensor(c.get("mean", [0.0] * c["in_chans"])).view(1, -1, 1, 1)
        std = torch.tensor(c.get("std", [1.0] * c["in_chans"])).view(1, -1, 1, 1)
        x = (x01 - mean) / std
        x = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=c["patch_size"])
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([w["cls_token"].expand(x.shape[0], -1, -1), x], 1) + w["pos_embed"]
        E = x.shape[-1]
        for i in range(c["depth"]):
            ln = lambda t, n: F.layer_norm(t, (E,), w[f"blocks.{i}.{n}.weight"], w[f"blocks.{i}.{n}.bias"], 1e-6)
            x = x + self.attention(ln(x, "norm1"), i)
            h = F.gelu(F.linear(ln(x, "norm2"), w[f"blocks.{i}.mlp.fc1.weight"], w[f"blocks.{i}.mlp.fc1.bias"]))
            x = x + F.linear(h, w[f"blocks.{i}.mlp.fc2.weight"], w[f"blocks.{i}.mlp.fc2.bias"])
        x = F.layer_norm(x, (E,), w["norm.weight"], w["norm.bias"], 1e-6)[:, 0]
        return F.linear(x, w["head.weight"], w["head.bias"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("inputs")
    p.add_argument("reference_logits")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    w, c = read_safetensors(a.checkpoint)
    model = ViT(w, c)
    x = torch.from_numpy(np.load(a.inputs))
    ref = torch.from_numpy(np.load(a.reference_logits))
    with torch.no_grad():
        chunks = [model(x[i:i + a.batch_size]) for i in range(0, len(x), a.batch_size)]
        logits = torch.cat(chunks)
        max_diff = (logits - ref).abs().max().item()
        best = float("inf")
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for i in range(0, len(x), a.batch_size):
                model(x[i:i + a.batch_size])
            best = min(best, time.perf_counter() - t0)
    print(json.dumps({"images": len(x), "seconds": best, "images_per_s": len(x) / best,
                      "max_abs_diff_vs_questbench": max_diff, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
