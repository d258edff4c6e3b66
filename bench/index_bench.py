#!/usr/bin/env python3
"""Index benchmarks of spot against universal-ctags, measured in the same run.

Usage: python3 bench/index_bench.py REPO [--runs N] [--queries N]

REPO is a real source tree (the table in bench/README.md uses rust-analyzer at a pinned
commit). Prints one table: each row a measurement, its anchor measured in this run, the
ratio, and the goal. Wall times are best-of-N (machines are noisy); nothing here is a test.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build():
    for target in (["--bin", "spot"], ["-p", "spot-index", "--example", "index_bench"]):
        subprocess.run(["cargo", "build", "--release", "-q", *target], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    return target / "spot", target / "examples" / "index_bench"


def timed(cmd, env=None, with_stdout=False):
    """Wall seconds and peak RSS (KiB) of a command, via GNU time (and its stdout)."""
    with tempfile.NamedTemporaryFile() as out:
        t = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wall = time.perf_counter() - t
        rss = int(Path(out.name).read_text().split()[-1])
    return (wall, rss, proc.stdout) if with_stdout else (wall, rss)


class Lsp:
    """A minimal LSP client over stdio."""

    def __init__(self, spot, data_dir):
        env = dict(os.environ, SPOT_DATA_DIR=data_dir, SPOT_LOG="warn")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(spot), "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        self.next_id = 1
        self.responses = {}
        self.indexed_at = None
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(out.read(length))
            with self.cond:
                if "id" in msg and "method" in msg:
                    self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                elif "id" in msg:
                    self.responses[msg["id"]] = msg
                elif msg.get("method") == "window/logMessage" and msg["params"]["message"].startswith("indexed "):
                    self.indexed_at = time.perf_counter()
                self.cond.notify_all()

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        with self.cond:
            self.cond.wait_for(lambda: rid in self.responses, timeout=60)
            return self.responses.pop(rid).get("result")

    def wait_indexed(self):
        with self.cond:
            self.cond.wait_for(lambda: self.indexed_at is not None, timeout=600)

    def peak_rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def close(self):
        self.request("shutdown", None)
        self.send({"jsonrpc": "2.0", "method": "exit"})
        self.proc.wait(timeout=30)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round((len(values) - 1) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    repo = args.repo.resolve()
    if not shutil.which("ctags"):
        sys.exit("universal-ctags is needed: apt-get install universal-ctags")
    spot, bench = build()
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"repo: {repo} {commit or '(not a git checkout)'}")
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="spot-bench-"))
    try:
        tags = tmp / "tags"
        ctags = [timed(["ctags", "-R", "--languages=Rust,Python,JavaScript,TypeScript,Go", "-f", str(tags), str(repo)]) for _ in range(args.runs)]
        ctags_s = min(w for w, _ in ctags)
        ctags_rss = min(r for _, r in ctags)
        floor_s = min(json.loads(subprocess.run([bench, "floor", repo], capture_output=True, check=True).stdout)["seconds"] for _ in range(args.runs))

        # Cold: the build's own timer (walk, read, parse, extract, BM25), like the floor's.
        # Warm vs cold: whole processes (start, load the cache, check every file, exit).
        cold, cold_wall, warm = [], [], []
        for run in range(args.runs):
            data = tmp / f"data{run}"
            env = dict(os.environ, SPOT_DATA_DIR=str(data))
            wall, _, out = timed([spot, "index", repo, "--json"], env, with_stdout=True)
            cold.append(json.loads(out)["stats"]["elapsed"])
            cold_wall.append(wall)
            warm.append(timed([spot, "index", repo, "--json"], env)[0])
        cold_s, cold_wall_s, warm_s = min(cold), min(cold_wall), min(warm)

        # LSP: first answer from the partial index, full build, memory, query latency.
        names = sorted({l.split("\t")[0] for l in tags.read_text(errors="replace").splitlines() if not l.startswith("!")})
        random.Random(7).shuffle(names)
        queries = names[: args.queries]
        firsts, symbol_ms, rss = [], [], 0
        for run in range(args.runs):
            lsp = Lsp(spot, str(tmp / f"lsp{run}"))
            lsp.request("initialize", {"processId": None, "rootUri": repo.as_uri(), "capabilities": {}})
            lsp.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
            while not lsp.request("workspace/symbol", {"query": "new"}):
                time.sleep(0.005)
            firsts.append(time.perf_counter() - lsp.started)
            lsp.wait_indexed()
            rss = max(rss, lsp.peak_rss_kib())
            if run == 0:
                for q in queries:
                    t = time.perf_counter()
                    lsp.request("workspace/symbol", {"query": q})
                    symbol_ms.append((time.perf_counter() - t) * 1e3)
            lsp.close()
        first_s = min(firsts)
        reindex = json.loads(subprocess.run([bench, "reindex", repo, "300"], capture_output=True, check=True).stdout)

        rows = [
            ("first workspace/symbol answer (s)", first_s, "ctags -R", ctags_s, first_s / ctags_s, "<= 1.0x"),
            ("full cold index (s)", cold_s, "parse-only floor", floor_s, cold_s / floor_s, "<= 1.5x"),
            ("warm start, cached index (s)", warm_s, "cold `spot index`", cold_wall_s, warm_s / cold_wall_s, "< 0.10x"),
            ("re-index one saved file p50 (ms)", reindex["p50_ms"], "", None, None, ""),
            ("re-index one saved file p99 (ms)", reindex["p99_ms"], "", None, None, "< 10 ms"),
            ("workspace/symbol p50 (ms)", pct(symbol_ms, 0.5), "", None, None, ""),
            ("workspace/symbol p99 (ms)", pct(symbol_ms, 0.99), "", None, None, "< 50 ms"),
            ("peak RSS of spot lsp (MB)", rss / 1024, "ctags RSS", ctags_rss / 1024, rss / ctags_rss, "< 300 MB"),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'measurement':38} {'spot':>9}  {'anchor':18} {'anchor':>8} {'ratio':>7}  goal")
    for name, value, anchor, anchor_v, ratio, goal in rows:
        a = f"{anchor_v:8.3f}" if anchor_v is not None else " " * 8
        r = f"{ratio:6.2f}x" if ratio is not None else " " * 7
        print(f"{name:38} {value:9.3f}  {anchor:18} {a} {r}  {goal}")


if __name__ == "__main__":
    main()
