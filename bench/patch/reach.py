#!/usr/bin/env python3
"""How many qualified cases (bench/patch/cases/*.tsv) a one-line repair can reach at all: the fix
changes exactly one line of its source files (one line removed and one added, whitespace-only
changes ignored), per repository. The templates edit one line; this is their ceiling.

Usage: python3 bench/patch/reach.py                (the table; reads the mirrors of setup_repos.sh)
       python3 bench/patch/reach.py --commit-args  (`--commit SHA ...` of the held-out one-line
                                                     fixes, for bench/patch/run.sh's ARGS)
"""
import pathlib
import subprocess
import sys

TUNED = {"boltons", "qs"}

HERE = pathlib.Path(__file__).parent
MIRRORS = {
    "click": "pallets+click", "boltons": "mahmoud+boltons",
    "marshmallow": "marshmallow-code+marshmallow", "more-itertools": "more-itertools+more-itertools",
    "arrow": "arrow-py+arrow", "qs": "ljharb+qs", "node-semver": "npm+node-semver",
}
commit_args = "--commit-args" in sys.argv[1:]
total = one = 0
shas_one = []
if not commit_args:
    print("| repo | qualified | one-line fixes | ≤ 3 changed lines |")
    print("|---|---:|---:|---:|")
for name, mirror in MIRRORS.items():
    tsv = HERE / "cases" / f"{name}.tsv"
    repo = f"/work/.mirror/{mirror}/repo"
    n = ones = small = 0
    for line in tsv.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        sha, files = line.split("\t")[:2]
        diff = subprocess.run(["git", "-C", repo, "show", "--format=", "-U0", "-w", sha, "--",
                               *files.split(",")], capture_output=True, text=True).stdout
        plus = sum(1 for l in diff.splitlines() if l.startswith("+") and not l.startswith("+++"))
        minus = sum(1 for l in diff.splitlines() if l.startswith("-") and not l.startswith("---"))
        n += 1
        ones += plus == 1 and minus == 1
        if plus == 1 and minus == 1 and name not in TUNED:
            shas_one.append(sha[:12])
        small += plus + minus <= 3
    total += n
    one += ones
    if not commit_args:
        print(f"| {name} | {n} | {ones} | {small} |")
if commit_args:
    print(" ".join(f"--commit {s}" for s in shas_one))
else:
    print(f"| all | {total} | {one} ({100 * one / total:.0f}%) | |")
