#!/usr/bin/python3
"""The Python pipeline a user would write instead of `questbench corruption`, for BENCHMARKS.md.

    /usr/bin/python3 scripts/bench_end_to_end_python.py --hendrycks HENDRYCKS_CHECKOUT --timm TIMM_CHECKOUT \
        --model models/checkpoints/fmnist_vit_standard.safetensors --model models/checkpoints/fmnist_vit_quest.safetensors \
        --limit 1000 --threads 1 [--questbench build/bench/questbench] [--compare corruption.json]

What it does, per (corruption, severity) cell, as questbench's corruption runner does:
  * reads the Fashion-MNIST test set (gzip IDX) with NumPy, first --limit images;
  * corrupts every image once with Hendrycks' CIFAR-10-C function (make_cifar_c.py, called as its generation
    script calls it: `np.uint8(f(PIL RGB image, severity))`), the gray image given as three equal channels and
    the result taken back to gray as the floored channel mean (questbench's corruptions/README.md "Grayscale");
  * evaluates both models on the cell's images with timm's own VisionTransformer under torch.inference_mode(),
    in batches of --batch-size (questbench's default 256), after normalising with the checkpoint's mean/std.

Hendrycks' CIFAR functions hard-code the image side 32 in six places (glass_blur's scan bounds, motion_blur's
gray test, fog's crop, frost's crop, snow's reshape, pixelate's sizes). The fairest user pipeline for 28x28
images is the one a user who reads the code would write: set those six sizes to the image's side and keep the
parameter tables (elastic_transform's IMSIZE = 32 scales its table, like the CIFAR constants elsewhere). This is
what questbench does at other sizes (corruptions/README.md "Other sizes"), so both sides compute the same
corruptions on the same 28x28 pixels (padding or resizing to 32 would give the Python side 31 % more pixels
and a different image). The substitution is made on the parsed script (Constant 32 -> side inside those six
functions); the scripts themselves are not edited or copied. Everything else follows the loading of
scripts/bench_corruptions_python.py (only the part before "End Distortions" runs; frost opens its photos from
the script's folder; frost thus uses Hendrycks' photos, questbench its procedural textures by default).

QUEST attention: timm's Attention.forward is replaced on the QUEST model's blocks by softmax(q normalize(k)^T) v,
keys divided by (L2 norm + 1e-6) per head and token, no scale (the reference's definition).

--questbench BIN checks timm's clean logits against `questbench predict` on the first 8 test images (atol = rtol
= 2e-5) before anything is timed, and stops if they differ (--check-only: only that check). --compare REPORT prints the per-cell top-1 accuracy
differences against a questbench corruption report. Output: per-stage seconds and accuracies as one JSON line on
stdout (progress on stderr).
"""
import argparse
import ast
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import warnings

T_START = time.perf_counter()

NAMES = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
         "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
         "speckle_noise", "gaussian_blur", "spatter", "saturate"]
SIZED = {"glass_blur", "motion_blur", "fog", "frost", "snow", "pixelate"}  # functions with the side 32 hard-coded


class SetSide(ast.NodeTransformer):
    def __init__(self, side):
        self.side = side

    def visit_Constant(self, node):
        if type(node.value) is int and node.value == 32:
            return ast.copy_location(ast.Constant(self.side), node)
        return node


def load_cifar_functions(create_c, side):
    """The 19 CIFAR-10-C functions of make_cifar_c.py, with the hard-coded side set to `side` (the corruption
    benchmark's peer, in this folder, parses and runs the script)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_corruptions_python import load_hendrycks_script
    set_side = lambda node: SetSide(side).visit(node) if node.name in SIZED and side != 32 else node
    return load_hendrycks_script(os.path.join(create_c, "make_cifar_c.py"), set_side)


def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, dtype_code, ndim = struct.unpack(">BBBB", data[:4])
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def read_safetensors(path):
    # The checkpoint reader of the inference benchmark's peer (same folder), imported when first needed.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_python_vit import read_safetensors as read
    return read(path)


def quest_forward(self, x, attn_mask=None, is_causal=False):
    """timm Attention.forward with QUEST attention: softmax(q (k / (||k|| + 1e-6))^T) v, no scale."""
    B, N, _ = x.shape
    q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    k = k / (k.norm(dim=-1, keepdim=True) + 1e-6)
    x = ((q @ k.transpose(-2, -1)).softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, self.attn_dim)
    return self.proj(x)


def timm_model(path):
    import torch
    from timm.models.vision_transformer import VisionTransformer
    weights, c = read_safetensors(path)
    model = VisionTransformer(img_size=c["img_size"], patch_size=c["patch_size"], in_chans=c["in_chans"],
                              num_classes=c["num_classes"], embed_dim=c["embed_dim"], depth=c["depth"],
                              num_heads=c["num_heads"], mlp_ratio=c.get("mlp_ratio", 4.0),
                              qkv_bias=c.get("qkv_bias", True), class_token=c.get("class_token", True),
                              global_pool=c.get("global_pool", "token"))
    model.load_state_dict(weights, strict=True)
    attention = c.get("attention", "standard")
    if attention == "quest":
        for block in model.blocks:
            block.attn.forward = quest_forward.__get__(block.attn)
    elif attention != "standard":
        raise SystemExit(f"{path}: attention '{attention}' is not part of this benchmark (standard or quest)")
    mean = torch.tensor(c["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(c["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return model.eval(), mean, std, os.path.splitext(os.path.basename(path))[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hendrycks", required=True, help="checkout of github.com/hendrycks/robustness")
    parser.add_argument("--timm", required=True, help="checkout of github.com/huggingface/pytorch-image-models")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="folder with t10k-*-ubyte.gz")
    parser.add_argument("--model", action="append", required=True, help="questbench safetensors checkpoint; repeatable")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--corruptions", default="all")
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--seed", type=int, default=0, help="np.random.seed once, before the first cell")
    parser.add_argument("--questbench", help="questbench binary: check clean logits against `questbench predict` first")
    parser.add_argument("--check-only", action="store_true", help="with --questbench: only the logits check")
    parser.add_argument("--compare", help="questbench corruption report: print per-cell accuracy differences")
    args = parser.parse_args()

    import numpy as np
    import torch
    import cv2
    from PIL import Image
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    sys.path.insert(0, os.path.abspath(args.timm))
    create_c = os.path.join(os.path.abspath(args.hendrycks), "ImageNet-C", "create_c")

    t0 = time.perf_counter()
    images = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    t_read = time.perf_counter() - t0
    side = images.shape[1]
    if images.shape[2] != side:
        raise SystemExit(f"{args.data}: images are {images.shape[1]}x{images.shape[2]}, expected square")

    t0 = time.perf_counter()
    functions = load_cifar_functions(create_c, side)
    warnings.simplefilter("ignore")
    models = [timm_model(p) for p in args.model]
    t_load = time.perf_counter() - t0
    target = torch.from_numpy(labels)

    def accuracies(gray_uint8):
        """Top-1 accuracy of every model on N x side x side uint8 images."""
        x = torch.from_numpy(gray_uint8).unsqueeze(1).float() / 255.0
        result = []
        with torch.inference_mode():
            for model, mean, std, _ in models:
                pred = torch.cat([model((x[i:i + args.batch_size] - mean) / std).argmax(1)
                                  for i in range(0, len(x), args.batch_size)])
                result.append((pred == target).double().mean().item())
        return result

    check = None
    if args.questbench:
        check = {}
        with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
            x = torch.from_numpy(images[:8].copy()).unsqueeze(1).float() / 255.0
            np.save(os.path.join(tmp, "x.npy"), x.numpy())
            for path, (model, mean, std, name) in zip(args.model, models):
                out = os.path.join(tmp, name + ".npy")
                subprocess.run([args.questbench, "predict", "--model", path, "--input", os.path.join(tmp, "x.npy"),
                                "-o", out, "--threads", str(args.threads), "--quiet"], check=True)
                questbench_logits = torch.from_numpy(np.load(out))
                timm_logits = model((x - mean) / std)
                check[name] = (timm_logits - questbench_logits).abs().max().item()
                if not torch.allclose(timm_logits, questbench_logits, rtol=2e-5, atol=2e-5):
                    raise SystemExit(f"{path}: timm's logits differ from questbench's by {check[name]:.3g} "
                                     "(tolerance 2e-5)")
        print(f"# clean logits, timm vs questbench predict, max |diff| on 8 images: {check}", file=sys.stderr)
        if args.check_only:
            print(json.dumps({"logits_check_max_abs_diff": check}))
            return

    names = NAMES if args.corruptions == "all" else args.corruptions.split(",")
    severities = [int(s) for s in args.severities.split(",")]
    cwd = os.getcwd()
    os.chdir(create_c)  # frost() opens ./frost1.png ... relative to the working directory
    np.random.seed(args.seed)
    t_corrupt = t_infer = 0.0
    t0 = time.perf_counter()
    clean = accuracies(images)
    t_infer += time.perf_counter() - t0
    cells = {}
    for name in names:
        f = functions[name]
        for severity in severities:
            t0 = time.perf_counter()
            out = np.empty_like(images)
            for i, g in enumerate(images):
                rgb = np.uint8(f(Image.fromarray(np.stack((g,) * 3, -1)), severity))
                out[i] = rgb.sum(-1, dtype=np.uint16) // 3
            t1 = time.perf_counter()
            cells[f"{name}/{severity}"] = accuracies(out)
            t2 = time.perf_counter()
            t_corrupt += t1 - t0
            t_infer += t2 - t1
        print(f"# {name}: corrupt {t_corrupt:.1f} s, inference {t_infer:.1f} s so far", file=sys.stderr, flush=True)
    os.chdir(cwd)
    result = {"images": len(images), "threads": args.threads, "batch_size": args.batch_size,
              "models": [m[3] for m in models], "clean": clean, "cells": cells,
              "stage_seconds": {"read": t_read, "load": t_load, "corrupt": t_corrupt, "inference": t_infer,
                                "total_in_process": time.perf_counter() - T_START},
              "logits_check_max_abs_diff": check, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}

    if args.compare:
        report = json.load(open(args.compare))["results"]
        diffs = {}
        print("| cell | " + " | ".join(f"{m}: questbench, Python, difference" for m in result["models"]) + " |",
              file=sys.stderr)
        for key in ["clean"] + list(cells):
            row = []
            for k, name in enumerate(result["models"]):
                if key == "clean":
                    questbench, python = report[name]["clean"]["accuracy"], clean[k]
                else:
                    corruption, severity = key.split("/")
                    questbench = next(s["accuracy"] for c in report[name]["corruptions"]
                                      if c["corruption"] == corruption for s in c["severities"]
                                      if s["severity"] == int(severity))
                    python = cells[key][k]
                diffs.setdefault(name, {})[key] = python - questbench
                row.append(f"{questbench:.3f}, {python:.3f}, {python - questbench:+.3f}")
            print(f"| {key} | " + " | ".join(row) + " |", file=sys.stderr)
        result["accuracy_minus_questbench"] = diffs
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
