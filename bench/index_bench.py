#!/usr/bin/env python3
"""Index and LSP benchmarks of spot against universal-ctags, measured in the same run.

Usage: python3 bench/index_bench.py REPO [--runs N] [--symbol NAME --expect PATH:LINE]

REPO is a real source tree (the table in bench/README.md uses rust-analyzer at a pinned
commit; the default symbol is its `GlobalState`). Every comparison is measured against its
anchor in the same run, interleaved: each round runs the anchor and spot back to back, in the
order A B in even rounds and B A in odd ones, so that a machine that speeds up or slows down
during the run moves both alike. Each row prints the median over the rounds of spot's value,
of the anchor's, and of the per-round ratio (the ratio of the two runs of one round), with the
range of that ratio. Nothing is best-of-N. Nothing here is a test.

Rows:
- lookup, cold: from process start with an empty data dir, `spot lsp` over stdio answers
  workspace/symbol NAME with the expected definition as its first result (the query is
  repeated until it does; answers from the partial index count only when they are right);
  anchor: `ctags -R` of the repo, then `grep` of the tags file for NAME, which must list the
  expected definition.
- lookup, warm: the same with the data dir the cold session left (cached index); anchor:
  `grep` of the tags file the anchor built (ctags users keep their tags file too).
- full cold index: `spot index`'s own build timer against the parse-only floor
  (`index_bench floor`: walk, read and tree-sitter-parse every file, nothing else).
- warm start: wall time of `spot index` on the data dir a cold `spot index` just left
  (start, load the cache, check every file, exit) against that cold run's wall time (always
  cold first in each round: the warm run needs its cache).
- peak RSS: the maximum resident set of the `spot lsp` process over its whole cold session,
  from start through the build, the cache write and shutdown until it exits (GNU time's %M
  of the process); anchor: ctags' peak RSS.
- latencies (absolute budgets, no anchor of the same kind): workspace/symbol on the built
  index (random tag names, one LSP session per round), and re-indexing one edited file
  (`index_bench reindex`, in-process).
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIME = "/usr/bin/time"
CTAGS_LANGS = "--languages=Rust,Python,JavaScript,TypeScript,Go"


def build():
    for target in (["--bin", "spot"], ["-p", "spot-index", "--example", "index_bench"]):
        subprocess.run(["cargo", "build", "--release", "--locked", "-q", *target], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    return target / "spot", target / "examples" / "index_bench"


def timed(cmd, env=None):
    """Wall seconds, peak RSS (KiB) and stdout of a command, via GNU time."""
    with tempfile.NamedTemporaryFile() as out:
        t = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-f", "%M", "-o", out.name, *map(str, cmd)],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wall = time.perf_counter() - t
        rss = int(Path(out.name).read_text().split()[-1])
    return wall, rss, proc.stdout


class Lsp:
    """A minimal LSP client over stdio; the server runs under GNU time for its peak RSS."""

    def __init__(self, spot, data_dir):
        # spot_lsp's debug log says when the index cache is written ("index saved").
        env = dict(os.environ, SPOT_DATA_DIR=str(data_dir), SPOT_LOG="warn,spot_lsp=debug")
        self.rss_file = tempfile.NamedTemporaryFile()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [TIME, "-f", "%M", "-o", self.rss_file.name, str(spot), "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.next_id = 1
        self.responses = {}
        self.indexed_at = None
        self.saved_at = None
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_log, daemon=True).start()

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

    def _read_log(self):
        for line in self.proc.stderr:
            if b"index saved" in line:
                with self.cond:
                    self.saved_at = time.perf_counter()
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
            if not self.cond.wait_for(lambda: rid in self.responses, timeout=120):
                sys.exit(f"no answer to {method} in 120 s")
            return self.responses.pop(rid).get("result")

    def initialize(self, repo):
        self.request("initialize", {"processId": None, "rootUri": repo.as_uri(), "capabilities": {}})
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def wait(self, what):
        with self.cond:
            if not self.cond.wait_for(lambda: getattr(self, what) is not None, timeout=600):
                sys.exit(f"spot lsp: no {what} in 600 s")

    def close(self):
        """Shuts the server down, waits for it to exit; returns its peak RSS in KiB."""
        self.request("shutdown", None)
        self.send({"jsonrpc": "2.0", "method": "exit"})
        self.proc.wait(timeout=60)
        rss = int(Path(self.rss_file.name).read_text().split()[-1])
        self.rss_file.close()
        return rss


def is_definition(sym, path, line):
    """Whether a workspace/symbol result is the definition at PATH (relative) : LINE (1-based)."""
    loc = sym.get("location", {})
    rng = loc.get("range")
    if not loc.get("uri", "").endswith("/" + path) or rng is None:
        return False
    return rng["start"]["line"] <= line - 1 <= rng["end"]["line"]


def lsp_lookup(spot, repo, data_dir, symbol, path, line, queries=(), cold=False):
    """One `spot lsp` session: seconds from process start to the first workspace/symbol answer
    whose first result is the definition, peak RSS (KiB) of the whole session, and the latencies
    (ms) of `queries` once the index is built."""
    lsp = Lsp(spot, data_dir)
    lsp.initialize(repo)
    deadline = time.perf_counter() + 120
    while True:
        result = lsp.request("workspace/symbol", {"query": symbol})
        if result and is_definition(result[0], path, line):
            found = time.perf_counter() - lsp.started
            break
        if time.perf_counter() > deadline:
            sys.exit(f"spot lsp never answered {symbol} with {path}:{line}; last answer: {result[:3] if result else result}")
        time.sleep(0.002)
    lsp.wait("indexed_at")
    latencies = []
    for q in queries:
        t = time.perf_counter()
        lsp.request("workspace/symbol", {"query": q})
        latencies.append((time.perf_counter() - t) * 1e3)
    if cold:  # a cold session writes its cache after the build (its peak RSS comes then)
        lsp.wait("saved_at")
    return found, lsp.close(), latencies


def ctags_lookup(repo, tags, symbol, path, build_tags):
    """Seconds to (re)build the tags file if `build_tags`, then grep it for the symbol; checks
    that the expected file is listed. Peak RSS (KiB) of ctags."""
    rss = 0
    t = time.perf_counter()
    if build_tags:
        _, rss, _ = timed(["ctags", "-R", CTAGS_LANGS, "--fields=+n", "-f", tags, repo])
    out = subprocess.run(["grep", f"^{symbol}\t", tags], stdout=subprocess.PIPE, check=True).stdout
    wall = time.perf_counter() - t
    if not any(l.split(b"\t")[1].decode().endswith(path) for l in out.splitlines()):
        sys.exit(f"ctags + grep did not find {symbol} in {path}: {out[:500]!r}")
    return wall, rss


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round((len(values) - 1) * p))]


def interleaved(rounds, a, b):
    """Runs a() and b() once per round, a first in even rounds and b first in odd ones."""
    out_a, out_b = [], []
    for r in range(rounds):
        if r % 2 == 0:
            out_a.append(a(r))
            out_b.append(b(r))
        else:
            out_b.append(b(r))
            out_a.append(a(r))
    return out_a, out_b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path)
    ap.add_argument("--runs", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--queries", type=int, default=200, help="workspace/symbol queries per round")
    ap.add_argument("--symbol", default="GlobalState", help="the symbol a user looks up")
    ap.add_argument("--expect", default="crates/rust-analyzer/src/global_state.rs:86",
                    help="PATH:LINE of its definition, relative to REPO")
    ap.add_argument("--no-build", action="store_true", help="use target/release as it is")
    args = ap.parse_args()
    repo = args.repo.resolve()
    path, line = args.expect.rsplit(":", 1)
    line = int(line)
    if not shutil.which("ctags"):
        sys.exit("universal-ctags is needed: apt-get install universal-ctags")
    if args.no_build:
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
        spot, bench = target / "spot", target / "examples" / "index_bench"
    else:
        spot, bench = build()
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"repo: {repo} {commit or '(not a git checkout)'}")
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="spot-bench-"))
    try:
        tags = tmp / "tags"
        subprocess.run(["ctags", "-R", CTAGS_LANGS, "-f", tags, repo], check=True, stderr=subprocess.DEVNULL)  # warms the page cache
        names = sorted({l.split("\t")[0] for l in tags.read_text(errors="replace").splitlines() if not l.startswith("!")})
        random.Random(7).shuffle(names)
        queries = names[: args.queries]
        tags.unlink()

        # 1. The lookup a user does, cold: spot lsp on an empty data dir vs ctags -R + grep.
        rss = []
        latencies = []

        def spot_cold(r):
            data = tmp / f"lsp{r}"
            found, peak, lat = lsp_lookup(spot, repo, data, args.symbol, path, line, queries, cold=True)
            rss.append(peak)
            latencies.append(lat)
            return found

        def ctags_cold(r):
            tags.unlink(missing_ok=True)
            return ctags_lookup(repo, tags, args.symbol, path, True)

        ctags_runs, spot_cold_s = interleaved(args.runs, ctags_cold, spot_cold)
        ctags_lookup_s = [w for w, _ in ctags_runs]
        ctags_rss = [m for _, m in ctags_runs]

        # 2. The same lookup warm: the data dir each cold session left vs grep of the tags file.
        spot_warm_s, grep_s = interleaved(
            args.runs,
            lambda r: lsp_lookup(spot, repo, tmp / f"lsp{r}", args.symbol, path, line)[0],
            lambda r: ctags_lookup(repo, tags, args.symbol, path, False)[0],
        )
        for r in range(args.runs):
            shutil.rmtree(tmp / f"lsp{r}", ignore_errors=True)

        # 3. Full cold index (build timer) vs the parse-only floor.
        def spot_index(r):
            env = dict(os.environ, SPOT_DATA_DIR=str(tmp / f"data{r}"))
            wall, _, out = timed([spot, "index", repo, "--json"], env)
            return json.loads(out)["stats"]["elapsed"], wall

        def floor(r):
            out = subprocess.run([bench, "floor", repo], capture_output=True, check=True).stdout
            return json.loads(out)["seconds"]

        floor_s, cold = interleaved(args.runs, floor, spot_index)
        cold_s = [c for c, _ in cold]

        # 4. Warm start vs cold: a cold `spot index` on a fresh data dir, then a warm one on it.
        cold_wall_s, warm_s = [], []
        for r in range(args.runs):
            shutil.rmtree(tmp / f"data{r}", ignore_errors=True)
            cold_wall_s.append(spot_index(r)[1])
            env = dict(os.environ, SPOT_DATA_DIR=str(tmp / f"data{r}"))
            warm_s.append(timed([spot, "index", repo, "--json"], env)[0])
            shutil.rmtree(tmp / f"data{r}", ignore_errors=True)

        # 5. Re-index one edited file (absolute; in-process).
        reindex = [
            json.loads(subprocess.run([bench, "reindex", repo, "300"], capture_output=True, check=True).stdout)
            for _ in range(args.runs)
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    med = statistics.median

    def ratio_row(name, spot_v, anchor, anchor_v, goal):
        ratios = [s / a for s, a in zip(spot_v, anchor_v)]
        return (name, med(spot_v), anchor, med(anchor_v), med(ratios), f"{min(ratios):.2f}-{max(ratios):.2f}", goal)

    rows = [
        ratio_row(f"lookup `{args.symbol}`, cold (s)", spot_cold_s, "ctags -R + grep", ctags_lookup_s, "<= 1.0x"),
        ratio_row(f"lookup `{args.symbol}`, warm (s)", spot_warm_s, "grep of tags file", grep_s, ""),
        ratio_row("full cold index (s)", cold_s, "parse-only floor", floor_s, "<= 1.5x"),
        ratio_row("warm start, cached index (s)", warm_s, "cold `spot index`", cold_wall_s, "< 0.10x"),
        ratio_row("peak RSS, whole lsp session (MB)", [k / 1024 for k in rss], "ctags peak RSS", [k / 1024 for k in ctags_rss], "< 300 MB"),
        ("workspace/symbol p50 (ms)", med([pct(l, 0.5) for l in latencies]), "", None, None, "", "absolute"),
        ("workspace/symbol p99 (ms)", med([pct(l, 0.99) for l in latencies]), "", None, None, "", "< 50 ms"),
        ("re-index one edited file p50 (ms)", med([r["p50_ms"] for r in reindex]), "", None, None, "", "absolute"),
        ("re-index one edited file p99 (ms)", med([r["p99_ms"] for r in reindex]), "", None, None, "", "< 10 ms"),
    ]
    print(f"{args.runs} interleaved rounds; medians; load average before {load_before[0]:.2f} {load_before[1]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} (1 and 5 min), {os.cpu_count()} CPUs")
    print(f"peak RSS of spot lsp per round (MB): {', '.join(f'{k / 1024:.0f}' for k in rss)}")
    print(f"{'measurement':36} {'spot':>9}  {'anchor':18} {'anchor':>8} {'ratio':>7} {'range':>11}  goal")
    for name, value, anchor, anchor_v, ratio, spread, goal in rows:
        a = f"{anchor_v:8.3f}" if anchor_v is not None else " " * 8
        r = f"{ratio:6.2f}x" if ratio is not None else " " * 7
        print(f"{name:36} {value:9.3f}  {anchor:18} {a} {r} {spread:>11}  {goal}")


if __name__ == "__main__":
    main()
