#!/usr/bin/python3
"""Writes every golden tensor the C++ tests read, into --out (build/fixtures).

Runs under Debian's torch 1.13 (/usr/bin/python3) and under torch 2.x. Each tools/fixtures_<part>.py
module exposes make(out_dir) and owns its own files; this driver runs them all (or --only NAME).
"""
import argparse
import glob
import importlib.util
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="build/fixtures")
    ap.add_argument("--only", default="", help="comma-separated part names (e.g. ops,models)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    only = set(filter(None, args.only.split(",")))
    for path in sorted(glob.glob(os.path.join(here, "fixtures_*.py"))):
        part = os.path.basename(path)[len("fixtures_"):-3]
        if only and part not in only:
            continue
        t0 = time.time()
        spec = importlib.util.spec_from_file_location("fixtures_" + part, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.make(args.out)
        print(f"fixtures: {part} done in {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
