#!/usr/bin/python3
"""Runs torchattacks' FGSM, PGD (no random start) and PGD-L2 on a TorchScript model on this machine and writes
the adversarial images, for scripts/conformance-torchattacks. torchattacks is imported from a checkout given on
the command line (never part of questbench). One call on all N samples, 2 threads, like the shipped reference.
usage: torchattacks_outputs.py TORCHATTACKS_DIR MODEL.pt INPUTS.npy LABELS.npy OUT_DIR
"""
import os
import sys

import numpy as np
import torch


def main():
    peer, model_path, inputs, labels, out = sys.argv[1:6]
    sys.path.insert(0, peer)
    import torchattacks

    torch.set_num_threads(2)
    model = torch.jit.load(model_path).eval()
    x = torch.from_numpy(np.load(inputs))
    y = torch.from_numpy(np.load(labels))
    os.makedirs(out, exist_ok=True)
    for k in (1, 2, 4, 8, 16):
        eps = k / 255
        runs = {"fgsm": torchattacks.FGSM(model, eps=eps),
                "pgd": torchattacks.PGD(model, eps=eps, alpha=2 / 255, steps=10, random_start=False)}
        for name, atk in runs.items():
            np.save(os.path.join(out, f"{name}_eps{k}.npy"), atk(x, y).numpy().astype(np.float32))
    atk = torchattacks.PGDL2(model, eps=1.0, alpha=0.2, steps=10, random_start=False)
    np.save(os.path.join(out, "pgdl2_eps1.0.npy"), atk(x, y).numpy().astype(np.float32))
    print(f"torchattacks {torchattacks.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
