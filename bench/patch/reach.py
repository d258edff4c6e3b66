#!/usr/bin/env python3
"""How many qualified cases (bench/patch/cases/*.tsv) a one-line repair can reach at all: the fix
changes exactly one line of its source files (one line removed and one added, whitespace-only
changes ignored), per repository. The templates edit one line; this is their ceiling.

Usage: python3 bench/patch/reach.py   (reads the mirrors named in setup_repos.sh)
"""
import pathlib
import subprocess

HERE = pathlib.Path(__file__).parent
MIRRORS = {
    "click": "pallets+click", "boltons": "mahmoud+boltons",
    "marshmallow": "marshmallow-code+marshmallow", "more-itertools": "more-itertools+more-itertools",
    "arrow": "arrow-py+arrow", "qs": "ljharb+qs", "node-semver": "npm+node-semver",
}
total = one = 0
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
        small += plus + minus <= 3
    total += n
    one += ones
    print(f"| {name} | {n} | {ones} | {small} |")
print(f"| all | {total} | {one} ({100 * one / total:.0f}%) | |")
