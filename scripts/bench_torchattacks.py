#!/usr/bin/python3
"""Times torchattacks' PGD on a TorchScript model, for the side-by-side in BENCHMARKS.md.

torchattacks is imported from a checkout given on the command line (it is never part of questbench).
usage: bench_torchattacks.py TORCHATTACKS_DIR MODEL.pt INPUTS.npy LABELS.npy --threads N --batch-size B --repeats R
       bench_torchattacks.py ... --serve: one untimed pass, one JSON line, then one timed pass per "pass" line read
       on stdin (its seconds printed), so that a driver can interleave its rounds with another program's.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("torchattacks_dir")
    p.add_argument("model")
    p.add_argument("inputs")
    p.add_argument("labels")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--serve", action="store_true")
    a = p.parse_args()
    sys.path.insert(0, a.torchattacks_dir)
    import torchattacks

    torch.set_num_threads(a.threads)
    model = torch.jit.load(a.model).eval()
    x = torch.from_numpy(np.load(a.inputs))
    y = torch.from_numpy(np.load(a.labels))
    atk = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=a.steps, random_start=True)
    if a.serve:
        def one_pass(seed):
            torch.manual_seed(seed)
            return [atk(x[i:i + a.batch_size], y[i:i + a.batch_size]) for i in range(0, len(x), a.batch_size)]
        adv = torch.cat(one_pass(0))  # the untimed warm-up pass
        with torch.no_grad():
            robust = ((model(x).argmax(1) == y) & (model(adv).argmax(1) == y)).double().mean().item()
        print(json.dumps({"images": len(x), "robust_accuracy": robust, "torchattacks": torchattacks.__version__,
                          "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
        for r, line in enumerate(sys.stdin, start=1):
            if line.strip() != "pass":
                break
            t0 = time.perf_counter()
            one_pass(r)
            print(f"{time.perf_counter() - t0:.6f}", flush=True)
        return
    best = float("inf")
    robust = None
    for r in range(a.repeats):
        torch.manual_seed(r)
        t0 = time.perf_counter()
        advs = [atk(x[i:i + a.batch_size], y[i:i + a.batch_size]) for i in range(0, len(x), a.batch_size)]
        best = min(best, time.perf_counter() - t0)
        with torch.no_grad():
            adv = torch.cat(advs)
            robust = ((model(x).argmax(1) == y) & (model(adv).argmax(1) == y)).double().mean().item()
    print(json.dumps({"images": len(x), "seconds": best, "robust_accuracy": robust,
                      "torchattacks": torchattacks.__version__, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
