#!/usr/bin/python3
"""Times the original AutoAttack (standard version) on a TorchScript model, for the side-by-side in BENCHMARKS.md.

AutoAttack is imported from a checkout given on the command line (it is never part of questbench). Prints one JSON
line: wall seconds of run_standard_evaluation, robust accuracy, and the per-stage seconds from its log.
usage: bench_autoattack.py AUTOATTACK_DIR MODEL.pt IDX_IMAGES.gz IDX_LABELS.gz --images N --threads T --batch-size B
"""
import argparse
import gzip
import io
import json
import re
import sys
import time
from contextlib import redirect_stdout

import numpy as np
import torch


def read_idx(path, n):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    return array[:n]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("autoattack_dir")
    p.add_argument("model")
    p.add_argument("images")
    p.add_argument("labels")
    p.add_argument("--images", dest="n", type=int, default=1000)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--norm", default="Linf")
    p.add_argument("--eps", type=float, default=8 / 255)
    a = p.parse_args()
    sys.path.insert(0, a.autoattack_dir)
    from autoattack import AutoAttack

    torch.set_num_threads(a.threads)
    model = torch.jit.load(a.model).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    x = torch.from_numpy(read_idx(a.images, a.n).astype(np.float32) / 255.0).unsqueeze(1).contiguous()
    y = torch.from_numpy(read_idx(a.labels, a.n).astype(np.int64))
    log = io.StringIO()
    with redirect_stdout(log):  # the constructor prints the version's parameters
        adversary = AutoAttack(model, norm=a.norm, eps=a.eps, version="standard", seed=0, device="cpu")
    t0 = time.perf_counter()
    with redirect_stdout(log):
        x_adv = adversary.run_standard_evaluation(x, y, bs=a.batch_size)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        robust = (model(x_adv).argmax(1) == y).float().mean().item()
    stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"robust accuracy after ([\w-]+): [\d.]+% \(total time ([\d.]+) s\)", log.getvalue())}
    print(json.dumps({"seconds": seconds, "robust_accuracy": robust, "cumulative_stage_seconds": stages}))


if __name__ == "__main__":
    main()
