#!/usr/bin/python3
"""The PyTorch peer of `questbench bench training`: the same training step, as a user would write it.

timm's own VisionTransformer (same config; the attention variant by swapping each block's attention
forward), AdamW (betas 0.9/0.999) with weight decay on matrices only (not biases, norms, pos_embed,
cls_token, per-head scales), linear warmup + cosine per step, label smoothing, random crop with zero
padding + horizontal flip done on the batch with tensor ops, Fashion-MNIST read with numpy. Times
--steps steps after --warmup-steps untimed ones and prints one JSON line with the same fields as questbench.

usage: bench_python_training.py --timm-dir DIR --data-dir DIR --attention quest --threads 1 --steps 50
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timm-dir", default=os.environ.get("TIMM_DIR", ""))
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--attention", default="quest", choices=["standard", "quest", "qknorm", "qnorm"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup-steps", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--patch-size", type=int, default=7)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--num-heads", type=int, default=4)
    ap.add_argument("--mlp-ratio", type=float, default=4.0)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--crop-padding", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    if a.timm_dir:
        sys.path.insert(0, a.timm_dir)
    from timm.models.vision_transformer import VisionTransformer

    images = read_idx(os.path.join(a.data_dir, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(a.data_dir, "train-labels-idx1-ubyte.gz"))
    x_train = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y_train = torch.from_numpy(labels.astype(np.int64))
    mean, std = round(float(x_train.mean()), 4), round(float(x_train.std(unbiased=False)), 4)
    n_train, side = x_train.shape[0], x_train.shape[-1]

    torch.manual_seed(a.seed)
    model = VisionTransformer(img_size=side, patch_size=a.patch_size, in_chans=1, num_classes=10,
                              embed_dim=a.embed_dim, depth=a.depth, num_heads=a.num_heads, mlp_ratio=a.mlp_ratio,
                              qkv_bias=True, class_token=True, global_pool="token")
    if a.attention != "standard":
        tokens = (side // a.patch_size) ** 2 + 1
        init = math.log2(max(tokens * tokens - tokens, 2)) if a.attention == "qknorm" else 1.0
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_python_vit import variant_forward  # the inference peer's attention forward of the variants
        forward = variant_forward(a.attention)
        for block in model.blocks:
            if a.attention != "quest":
                block.attn.scale_h = torch.nn.Parameter(torch.full((a.num_heads,), init))
            block.attn.forward = forward.__get__(block.attn)
    model.train()

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("pos_embed", "cls_token")]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and n not in ("pos_embed", "cls_token"))]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.999))
    steps_per_epoch = (n_train + a.batch_size - 1) // a.batch_size
    total_steps = steps_per_epoch * a.epochs
    warmup_steps = max(1, round(a.warmup_epochs * steps_per_epoch))

    def lr_at(step):
        if step < warmup_steps:
            return a.lr * (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1.0, total_steps - warmup_steps))
        return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * progress))

    generator = torch.Generator().manual_seed(a.seed)
    order = torch.randperm(n_train, generator=generator)
    p = a.crop_padding

    def augment(x):
        b, c, h, w = x.shape
        if p > 0:
            padded = F.pad(x, (p, p, p, p))
            oy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            ox = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            rows = (oy.view(b, 1) + torch.arange(h).view(1, h)).view(b, 1, h, 1).expand(b, c, h, w + 2 * p)
            cols = (ox.view(b, 1) + torch.arange(w).view(1, w)).view(b, 1, 1, w).expand(b, c, h, w)
            x = padded.gather(2, rows).gather(3, cols)
        flip = (torch.rand(b, generator=generator) < 0.5).view(b, 1, 1, 1)
        return torch.where(flip, x.flip(3), x)

    losses = []

    def step(s):
        nonlocal order
        s_in_epoch = s % steps_per_epoch
        if s_in_epoch == 0 and s > 0:
            order = torch.randperm(n_train, generator=generator)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(s)
        idx = order[s_in_epoch * a.batch_size:(s_in_epoch + 1) * a.batch_size]
        x = (augment(x_train[idx]) - mean) / std
        y = y_train[idx]
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=a.label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        (logits.detach().argmax(1) == y).sum().item()  # the accuracy count questbench keeps too

    for s in range(a.warmup_steps):
        step(s)
    losses.clear()
    started = time.perf_counter()
    for s in range(a.warmup_steps, a.warmup_steps + a.steps):
        step(s)
    seconds = time.perf_counter() - started
    per_step = seconds / a.steps
    print(json.dumps({"attention": a.attention, "device": "cpu", "threads": torch.get_num_threads(), "batch_size": a.batch_size,
                      "warmup_steps": a.warmup_steps, "steps": a.steps, "seconds": round(seconds, 4),
                      "ms_per_step": round(1e3 * per_step, 3), "steps_per_epoch": steps_per_epoch,
                      "epoch_seconds_extrapolated": round(per_step * steps_per_epoch, 3),
                      "first_loss": round(losses[0], 6), "last_loss": round(losses[-1], 6)}))


if __name__ == "__main__":
    main()
