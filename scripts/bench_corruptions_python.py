#!/usr/bin/python3
"""Times the reference Python corruption code, for BENCHMARKS.md beside `questbench bench corruptions`.

    /usr/bin/python3 scripts/bench_corruptions_python.py --hendrycks ../ext/hendrycks-robustness \
        --imagecorruptions ../ext/imagecorruptions --image ../shared/reference/corruptions/inputs/rgb224/chelsea.png

Both checkouts stay outside the repository (never committed); nothing is copied from them. Hendrycks'
scripts are dataset generators, so only their top-level definitions before "End Distortions" are executed
(imports of torch/torchvision and the DistortImageFolder class are skipped; no library line is edited):
make_imagenet_c.py for 224x224 and make_cifar_c.py for 32x32. bethgelab's imagecorruptions is imported
as a package (it uses the 224 parameters at every size). Each call gets one image (uint8 H x W x 3), like the
generation scripts, and includes the np.uint8 conversion. A timed run is --count such calls (the same count
as questbench's batch, so that both sides' timed runs are equally long and equally exposed to a busy machine);
one untimed run per severity first; the figure is the best of --repeats runs divided by --count, in ms.
Output: one JSON object per (library, side, corruption) on stdout.
"""
import argparse
import ast
import json
import os
import sys
import time
import warnings

import numpy as np
from PIL import Image

NAMES = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
         "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
         "speckle_noise", "gaussian_blur", "spatter", "saturate"]


def load_hendrycks_script(path, transform=None):
    """Executes the corruption part of a Hendrycks generation script; returns its namespace. `transform`, if given,
    may rewrite each top-level function definition (an ast.FunctionDef) before it runs."""
    source = open(path).read()
    marker = source.index("# /////////////// End Distortions ///////////////")
    stop_line = source[:marker].count("\n") + 1
    tree = ast.parse(source, filename=path)
    keep = []
    for node in tree.body:
        if node.lineno >= stop_line:
            break
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.split(".")[0] in ("torch", "torchvision") for m in modules):
                continue
        if isinstance(node, ast.ClassDef) and node.name == "DistortImageFolder":
            continue
        if transform and isinstance(node, ast.FunctionDef):
            node = transform(node)
        keep.append(node)
    module = ast.fix_missing_locations(ast.Module(body=keep, type_ignores=[]))
    namespace = {"__name__": "hendrycks_reference", "__file__": path}
    exec(compile(module, path, "exec"), namespace)
    warnings.resetwarnings()
    return namespace


def best_ms(call, repeats, count):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(count):
            call()
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hendrycks", required=True, help="checkout of github.com/hendrycks/robustness")
    parser.add_argument("--imagecorruptions", help="checkout of github.com/bethgelab/imagecorruptions")
    parser.add_argument("--image", required=True, help="an RGB image; resized to each side")
    parser.add_argument("--sides", default="224,32")
    parser.add_argument("--corruptions", default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=1, help="calls per timed run (questbench: the batch size)")
    parser.add_argument("--glass-repeats", type=int, default=1, help="repeats for Hendrycks glass_blur (seconds per call)")
    args = parser.parse_args()
    names = NAMES if args.corruptions == "all" else args.corruptions.split(",")
    warnings.simplefilter("ignore")
    create_c = os.path.join(os.path.abspath(args.hendrycks), "ImageNet-C", "create_c")
    scripts = {224: load_hendrycks_script(os.path.join(create_c, "make_imagenet_c.py")),
               32: load_hendrycks_script(os.path.join(create_c, "make_cifar_c.py"))}
    warnings.simplefilter("ignore")
    bethgelab = None
    if args.imagecorruptions:
        sys.path.insert(0, os.path.abspath(args.imagecorruptions))
        import imagecorruptions as bethgelab  # noqa: E402
    source = Image.open(args.image).convert("RGB")
    os.chdir(create_c)  # the Hendrycks frost() opens ./frost1.png ...
    np.random.seed(0)
    for side in [int(s) for s in args.sides.split(",")]:
        pil = source.resize((side, side), Image.BILINEAR)
        array = np.array(pil)
        for name in names:
            libraries = []
            if side in scripts:
                libraries.append(("hendrycks", lambda s, n=name, ns=scripts[side]: np.uint8(ns[n](pil, s))))
            if bethgelab is not None:
                libraries.append(("imagecorruptions", lambda s, n=name: bethgelab.corrupt(array, corruption_name=n, severity=s)))
            for library, call in libraries:
                ms = []
                for severity in range(1, 6):
                    try:
                        slow = library == "hendrycks" and name == "glass_blur"  # ~1.5 s per call: one call per run
                        count = 1 if slow else args.count
                        for _ in range(count):
                            call(severity)  # warm-up (numba JIT, file caches)
                        repeats = args.glass_repeats if slow else args.repeats
                        ms.append(best_ms(lambda: call(severity), repeats, count))
                    except Exception as e:  # e.g. bethgelab motion_blur on 32x32 (its issues #5, #13)
                        ms.append(None)
                        print(f"# {library} {name} {side} severity {severity}: {type(e).__name__}: {e}", file=sys.stderr)
                valid = [m for m in ms if m is not None]
                print(json.dumps({"library": library, "side": side, "corruption": name, "ms_per_image": ms,
                                  "mean_ms": sum(valid) / len(valid) if valid else None}), flush=True)


if __name__ == "__main__":
    main()
