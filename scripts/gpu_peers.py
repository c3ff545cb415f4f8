#!/usr/bin/env python3
"""The Python peers of scripts/gpu-check, on the same GPU: timm's VisionTransformer and torchattacks' PGD.

Run with the CUDA PyTorch that questbench was built against (never a dependency of questbench itself).
  gpu_peers.py make-vit-tiny OUT.safetensors INPUTS.npy --images N
      a timm vit_tiny_patch16_224 (random weights, seed 0, timm layout, questbench's config in the metadata)
      and N random 224x224 RGB inputs in [0,1]
  gpu_peers.py timm-inference CKPT INPUTS.npy QUESTBENCH_LOGITS.npy --autocast none|bf16|fp16 --batch-size B --repeats R
      images/s of timm's VisionTransformer with the checkpoint's weights (torch.inference_mode, CUDA
      synchronized around each timed pass, inputs on the GPU before timing), and its logits against questbench's
  gpu_peers.py torchattacks-pgd TORCHATTACKS_DIR MODEL.pt INPUTS.npy LABELS.npy --batch-size B --repeats R
      torchattacks' PGD-10 (Linf 8/255, alpha 2/255, random start) on the GPU, synchronized
Each prints one JSON line.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python_vit import read_safetensors  # noqa: E402  (the checkpoint reader of the CPU peer)


def timm_vit(config):
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=config["img_size"], patch_size=config["patch_size"], in_chans=config["in_chans"],
                             num_classes=config["num_classes"], embed_dim=config["embed_dim"], depth=config["depth"],
                             num_heads=config["num_heads"], mlp_ratio=config.get("mlp_ratio", 4.0),
                             qkv_bias=config.get("qkv_bias", True), global_pool=config.get("global_pool", "token"))


def make_vit_tiny(a):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=1000)
    config = {"img_size": 224, "patch_size": 16, "in_chans": 3, "num_classes": 1000, "embed_dim": 192, "depth": 12,
              "num_heads": 3, "mlp_ratio": 4.0, "qkv_bias": True, "class_token": True, "global_pool": "token",
              "attention": "standard", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, a.out, metadata={"config": json.dumps(config), "format": "pt"})
    rng = np.random.default_rng(0)
    np.save(a.inputs, rng.random((a.images, 3, 224, 224), dtype=np.float32))
    print(json.dumps({"checkpoint": a.out, "parameters": sum(v.numel() for v in state.values()), "images": a.images}))


def timm_inference(a):
    weights, config = read_safetensors(a.checkpoint)
    model = timm_vit(config)
    model.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    model = model.cuda().eval()
    channels = config["in_chans"]
    mean = torch.tensor(config.get("mean") or [0.0] * channels, device="cuda").view(1, -1, 1, 1)
    inv_std = 1 / torch.tensor(config.get("std") or [1.0] * channels, device="cuda").view(1, -1, 1, 1)
    x = torch.from_numpy(np.load(a.inputs)).cuda()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.autocast)

    def run_once():
        out = []
        for i in range(0, len(x), a.batch_size):
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                out.append(model((x[i:i + a.batch_size] - mean) * inv_std).float())
        return torch.cat(out)

    with torch.inference_mode():
        logits = run_once()  # warm-up, and the logits compared with questbench's
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(a.repeats):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            run_once()
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    ref = torch.from_numpy(np.load(a.reference_logits)).cuda()
    print(json.dumps({"peer": "timm", "timm": __import__("timm").__version__, "torch": torch.__version__,
                      "autocast": a.autocast, "images": len(x), "batch_size": a.batch_size, "repeats": a.repeats,
                      "seconds": best, "images_per_s": len(x) / best,
                      "max_abs_diff_vs_questbench": (logits - ref).abs().max().item(),
                      "argmax_agreement_vs_questbench": (logits.argmax(1) == ref.argmax(1)).double().mean().item()}))


def torchattacks_pgd(a):
    sys.path.insert(0, a.torchattacks_dir)
    import torchattacks

    model = torch.jit.load(a.model, map_location="cuda").eval()
    x = torch.from_numpy(np.load(a.inputs)).cuda()
    y = torch.from_numpy(np.load(a.labels)).cuda()
    atk = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=a.steps, random_start=True)
    best, robust = float("inf"), None
    for r in range(a.repeats + 1):  # the first round warms up (kernels, allocator)
        torch.manual_seed(r)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        advs = [atk(x[i:i + a.batch_size], y[i:i + a.batch_size]) for i in range(0, len(x), a.batch_size)]
        torch.cuda.synchronize()
        if r > 0:
            best = min(best, time.perf_counter() - t0)
        with torch.no_grad():
            adv = torch.cat(advs)
            robust = ((model(x).argmax(1) == y) & (model(adv).argmax(1) == y)).double().mean().item()
    print(json.dumps({"peer": "torchattacks", "torchattacks": torchattacks.__version__, "torch": torch.__version__,
                      "images": len(x), "batch_size": a.batch_size, "repeats": a.repeats, "seconds": best,
                      "robust_accuracy": robust}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-vit-tiny")
    m.add_argument("out")
    m.add_argument("inputs")
    m.add_argument("--images", type=int, default=512)
    t = sub.add_parser("timm-inference")
    t.add_argument("checkpoint")
    t.add_argument("inputs")
    t.add_argument("reference_logits")
    t.add_argument("--autocast", default="none", choices=["none", "bf16", "fp16"])
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--repeats", type=int, default=5)
    g = sub.add_parser("torchattacks-pgd")
    g.add_argument("torchattacks_dir")
    g.add_argument("model")
    g.add_argument("inputs")
    g.add_argument("labels")
    g.add_argument("--batch-size", type=int, default=250)
    g.add_argument("--repeats", type=int, default=3)
    g.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # as questbench: exact float32 products
    torch.backends.cudnn.allow_tf32 = False
    {"make-vit-tiny": make_vit_tiny, "timm-inference": timm_inference, "torchattacks-pgd": torchattacks_pgd}[a.command](a)


if __name__ == "__main__":
    main()
