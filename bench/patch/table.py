#!/usr/bin/env python3
"""Summarize `spot eval patch --json` reports into the bench/README.md table.

Usage: python3 bench/patch/table.py LABEL=DIR [LABEL=DIR ...]
Each DIR holds one `<repo>.json` per repository (bench/patch/run.sh writes them). Prints one row
per repository and configuration, then the held-out total per configuration (repositories named
in TUNED are tuning repositories and are left out of the total).
"""
import json
import pathlib
import statistics
import sys

TUNED = {"boltons", "qs"}


def rows(label, d):
    out = []
    for f in sorted(pathlib.Path(d).glob("*.json")):
        try:
            r = json.loads(f.read_text())
        except json.JSONDecodeError:
            continue  # a run still going or killed
        cases = r["cases"]
        secs = [c["seconds"] for c in cases]
        out.append({
            "label": label,
            "repo": f.stem,
            "cases": len(cases),
            "plausible": sum(c["plausible"] for c in cases),
            "exact": sum(c["exact"] for c in cases),
            "fixes": sum(c.get("verdict") == "fixes_failing_tests" for c in cases),
            "wrong": sum(c["wrong_verdict"] for c in cases),
            "right_file": sum(c["right_file"] for c in cases),
            "median_s": statistics.median(secs) if secs else 0.0,
            "coverage": r.get("coverage"),
            "model": r.get("model"),
        })
    return out


def pct(a, b):
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "0/0"


def main():
    allrows = []
    for arg in sys.argv[1:]:
        label, _, d = arg.partition("=")
        allrows += rows(label, d)
    print("| configuration | repo | cases | plausible | correct (= real fix) | wrong verdicts | right file | median s/case |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in allrows:
        tag = " (tuning)" if r["repo"] in TUNED else ""
        print(f"| {r['label']} | {r['repo']}{tag} | {r['cases']} | {pct(r['plausible'], r['cases'])} | "
              f"{pct(r['exact'], r['cases'])} | {r['wrong']} | {pct(r['right_file'], r['cases'])} | {r['median_s']:.0f} |")
    for label in dict.fromkeys(r["label"] for r in allrows):
        held = [r for r in allrows if r["label"] == label and r["repo"] not in TUNED]
        n = sum(r["cases"] for r in held)
        print(f"| **{label}, held out** | {len(held)} repos | {n} | "
              f"{pct(sum(r['plausible'] for r in held), n)} | {pct(sum(r['exact'] for r in held), n)} | "
              f"{sum(r['wrong'] for r in held)} | {pct(sum(r['right_file'] for r in held), n)} | |")


if __name__ == "__main__":
    main()
