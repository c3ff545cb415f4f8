#!/usr/bin/python3
"""The timm peer of `questbench bench inference` (scripts/bench-inference drives both).

Modes:
  make-vit-ti OUT_DIR --images N --seed S [--attention quest]
      writes OUT_DIR/vit_ti.safetensors (ViT-Ti/16 at 224 in timm layout, random seeded weights, config in the
      metadata) and OUT_DIR/inputs.npy (float32 [N,3,224,224] uniform [0,1)), OUT_DIR/labels.npy.
  serve CKPT INPUTS.npy QUESTBENCH_LOGITS.npy --threads T --batch-size B
      builds timm's own VisionTransformer from the checkpoint's config, loads the weights, runs one untimed
      pass under torch.inference_mode(), prints one JSON line (max |logit diff| against questbench's), then
      for every line "pass" on stdin times one pass over all inputs and prints its seconds (so that the
      driver can interleave questbench and timm rounds without reloading either).
  matmul --threads T
      GFLOP/s of torch.mm (the same OpenBLAS sgemm LibTorch calls) at the ViTs' GEMM shapes and a large square.
timm's source directory comes from $TIMM_DIR (it is never a dependency of questbench).
"""
import argparse
import json
import math
import os
import struct
import sys
import time
import types

import numpy as np
import torch

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


def write_safetensors(path, tensors, config):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    header["__metadata__"] = {"config": json.dumps(config)}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def import_timm():
    sys.path.insert(0, os.environ["TIMM_DIR"])
    import timm.models.vision_transformer as vt
    return vt


def variant_forward(kind):
    """timm Attention.forward with the logits of questbench's variants (models/attention.h)."""
    def forward(self, x, attn_mask=None, is_causal=False):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        unit = lambda t: t / (t.norm(dim=-1, keepdim=True) + 1e-6)
        if kind == "quest":
            attn = q @ unit(k).transpose(-2, -1)
        elif kind == "qknorm":
            attn = (unit(q) @ unit(k).transpose(-2, -1)) * self.scale_h.view(1, -1, 1, 1)
        else:  # qnorm
            attn = (unit(q) @ k.transpose(-2, -1)) * self.scale_h.view(1, -1, 1, 1)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)
    return forward


def build_timm(ckpt):
    vt = import_timm()
    w, c = read_safetensors(ckpt)
    img = c.get("img_size", [c.get("img_height", 28), c.get("img_width", 28)])
    model = vt.VisionTransformer(img_size=img, patch_size=c["patch_size"], in_chans=c["in_chans"],
                                 num_classes=c["num_classes"], embed_dim=c["embed_dim"], depth=c["depth"],
                                 num_heads=c["num_heads"], mlp_ratio=c.get("mlp_ratio", 4.0),
                                 qkv_bias=c.get("qkv_bias", True), class_token=c.get("class_token", True),
                                 global_pool=c.get("global_pool", "token"))
    kind = c.get("attention", "standard")
    for i, block in enumerate(model.blocks):
        if kind != "standard":  # standard: timm's own forward, untouched
            if kind in ("qknorm", "qnorm"):
                block.attn.scale_h = torch.nn.Parameter(w.pop(f"blocks.{i}.attn.scale"))
            block.attn.forward = types.MethodType(variant_forward(kind), block.attn)
    model.load_state_dict(w, strict=True)
    model.eval()
    mean = torch.tensor(c.get("mean") or [0.0] * c["in_chans"]).view(1, -1, 1, 1)
    std = torch.tensor(c.get("std") or [1.0] * c["in_chans"]).view(1, -1, 1, 1)
    return model, mean, std, c


def serve(a):
    torch.set_num_threads(a.threads)
    model, mean, std, _ = build_timm(a.checkpoint)
    x01 = torch.from_numpy(np.load(a.inputs))
    ref = torch.from_numpy(np.load(a.reference_logits))

    def one_pass():
        out = []
        for i in range(0, len(x01), a.batch_size):
            # questbench's Model::logits normalizes inside its timed pass too
            out.append(model((x01[i:i + a.batch_size] - mean) / std))
        return torch.cat(out)

    with torch.inference_mode():
        logits = one_pass()  # the untimed warm-up pass
        diff = (logits - ref).abs().max().item()
        print(json.dumps({"max_abs_diff_vs_questbench": diff, "torch": torch.__version__,
                          "threads": torch.get_num_threads()}), flush=True)
        for line in sys.stdin:
            if line.strip() != "pass":
                break
            t0 = time.perf_counter()
            one_pass()
            print(f"{time.perf_counter() - t0:.6f}", flush=True)


def make_vit_ti(a):
    vt = import_timm()
    torch.manual_seed(a.seed)
    config = {"img_size": 224, "patch_size": 16, "in_chans": 3, "num_classes": 1000, "embed_dim": 192, "depth": 12,
              "num_heads": 3, "mlp_ratio": 4.0, "qkv_bias": True, "class_token": True, "global_pool": "token"}
    model = vt.VisionTransformer(**config)  # timm's init, seeded
    config["attention"] = a.attention
    os.makedirs(a.out_dir, exist_ok=True)
    write_safetensors(os.path.join(a.out_dir, "vit_ti.safetensors"), model.state_dict(), config)
    rng = np.random.default_rng(a.seed)
    np.save(os.path.join(a.out_dir, "inputs.npy"), rng.random((a.images, 3, 224, 224), dtype=np.float32))
    np.save(os.path.join(a.out_dir, "labels.npy"), np.zeros(a.images, dtype=np.int64))


def matmul(a):
    torch.set_num_threads(a.threads)
    # (M, K, N): questbench's per-chunk GEMMs (256 rows for the 17-token model, 197 for ViT-Ti), timm's batch-wide
    # ones (batch 256), and a large square.
    shapes = {"fmnist qkv chunk 255x64x192": (255, 64, 192), "fmnist fc1 batch 4352x64x256": (4352, 64, 256),
              "vit-ti qkv chunk 197x192x576": (197, 192, 576), "vit-ti fc1 chunk 197x192x768": (197, 192, 768),
              "vit-ti fc2 chunk 197x768x192": (197, 768, 192), "vit-ti fc1 batch 50432x192x768": (50432, 192, 768),
              "square 2048": (2048, 2048, 2048)}
    out = {}
    for name, (m, k, n) in shapes.items():
        x, w = torch.randn(m, k), torch.randn(n, k)
        for _ in range(2):
            torch.mm(x, w.t())
        reps = max(3, int(2e9 / (2 * m * k * n)))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.mm(x, w.t())
            best = min(best, (time.perf_counter() - t0) / reps)
        out[name] = round(2 * m * k * n / best / 1e9, 1)
    print(json.dumps({"threads": a.threads, "gflop_per_s": out}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("checkpoint")
    s.add_argument("inputs")
    s.add_argument("reference_logits")
    s.add_argument("--threads", type=int, required=True)
    s.add_argument("--batch-size", type=int, default=256)
    m = sub.add_parser("make-vit-ti")
    m.add_argument("out_dir")
    m.add_argument("--images", type=int, default=256)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--attention", default="quest")
    g = sub.add_parser("matmul")
    g.add_argument("--threads", type=int, required=True)
    a = p.parse_args()
    {"serve": serve, "make-vit-ti": make_vit_ti, "matmul": matmul}[a.mode](a)


if __name__ == "__main__":
    main()
