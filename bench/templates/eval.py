#!/usr/bin/env python3
"""Coverage check of spot's repair templates (crates/spot-assist/src/templates/).

    python3 bench/templates/eval.py --fixtures DEST [--quixbugs DIR] [--top N] [--tests K]

For every historical fix of the fixture repositories (built by
``python3 fixtures/repos/make_repos.py DEST``; their fix commits are the ``fix=True``
commits of ``fixtures/repos/histories``) and, with ``--quixbugs``, every Python program
of QuixBugs (a checkout of github.com/jkoppel/QuixBugs: ``python_programs/X.py`` buggy,
``correct_python_programs/X.py`` fixed), each line the fix changes in the buggy file is
given alone as the only site (weight 1) and the engine's first N candidates are compared
with the fix:

- exact: the candidate's file equals the fixed file (QuixBugs: the same Python AST,
  docstrings and comments left out, since its correct files differ in those);
- plausible (``--tests K``): among the first K candidates, the first whose file passes the
  repository's tests where the buggy file fails them (py-inventory: unittest at the fix
  commit; polyglot: go test at the fix commit; QuixBugs: its pytest file).

The best rank over the changed lines is reported, with the line. This is a sanity check of
what the templates cover, not a benchmark of repair: the sites are the true lines.
Needs git, Python 3.10+, cargo (the example ``template_candidates`` is built), and pytest
and go for ``--tests``.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "fixtures" / "repos"))
sys.dont_write_bytecode = True

from histories import REPOS  # noqa: E402

LANGS = {".py": "python", ".rs": "rust", ".go": "go", ".js": "javascript", ".ts": "typescript",
         ".tsx": "tsx"}


@dataclass
class Case:
    id: str
    lang: str
    buggy: str  # text
    fixed: str  # text
    path: str  # file path in its repository
    sites: list[int]  # 0-based lines of the buggy file the fix changes
    project: list[str] = field(default_factory=list)  # files giving functions by arity
    # Runs the tests with the file's text replaced; True when they pass. None: no tests.
    tests: object = None
    note: str = ""
    same: object = None  # how to compare a candidate's text with the fixed one


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def changed_lines(buggy: str, fixed: str) -> list[int]:
    """0-based lines of `buggy` that the fix replaces or deletes; for a pure insertion, the
    line it goes before."""
    a, b = buggy.splitlines(), fixed.splitlines()
    out: set[int] = set()
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            out.update(range(i1, i2))
        elif tag == "insert":
            out.add(min(i1, max(len(a) - 1, 0)))
    return sorted(out)


def is_test_path(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (path.startswith("tests/") or name.startswith("test_") or name.endswith("_test.go")
            or "/tests/" in path)


def fixture_cases(dest: Path) -> list[Case]:
    cases = []
    for repo in REPOS:
        rdir = dest / repo.name
        hashes = git(rdir, "log", "--reverse", "--format=%H").split()
        for i, commit in enumerate(repo.commits):
            if not commit.fix:
                continue
            sha, parent = hashes[i], hashes[i - 1]
            files = git(rdir, "diff", "--name-only", parent, sha).split()
            sources = [f for f in files if Path(f).suffix in LANGS and not is_test_path(f)]
            for path in sources:
                try:
                    buggy = git(rdir, "show", f"{parent}:{path}")
                except subprocess.CalledProcessError:
                    continue  # a file the fix created
                fixed = git(rdir, "show", f"{sha}:{path}")
                project = [f for f in git(rdir, "ls-tree", "-r", "--name-only", parent).split()
                           if Path(f).suffix == Path(path).suffix and not is_test_path(f)]
                cases.append(Case(
                    id=f"{repo.name}#{i + 1} {path}",
                    lang=LANGS[Path(path).suffix],
                    buggy=buggy, fixed=fixed, path=path,
                    sites=changed_lines(buggy, fixed),
                    project=[(rdir, parent, f) for f in project],
                    tests=repo_tests(repo.name, rdir, sha, path),
                    note=f"{len(sources)} source file(s) changed",
                ))
    # py-inventory's open bug at HEAD (README: one line in pricing.py).
    rdir = dest / "py-inventory"
    path = "inventory/pricing.py"
    buggy = (rdir / path).read_text()
    fixed = buggy.replace("if quantity > min_quantity:", "if quantity >= min_quantity:")
    project = [f for f in git(rdir, "ls-tree", "-r", "--name-only", "HEAD").split()
               if f.endswith(".py") and not is_test_path(f)]
    cases.append(Case(id=f"py-inventory open bug {path}", lang="python", buggy=buggy,
                      fixed=fixed, path=path, sites=changed_lines(buggy, fixed),
                      project=[(rdir, "HEAD", f) for f in project], tests=None,
                      note="no test covers it"))
    return cases


def run(cmd: list[str], cwd: Path, timeout: int = 120) -> bool:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout,
                           env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


def repo_tests(name: str, rdir: Path, sha: str, path: str):
    """Tests at the fix commit with `path` replaced, or None where there are none to run."""
    if name == "py-inventory":
        cmd = [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-q"]
    elif name == "polyglot" and path.endswith(".go"):
        cmd = ["go", "test", "./..."]
    else:
        return None  # rs-ledger: cargo builds per candidate are too slow here; JS: no tests

    def check(text: str) -> bool:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "t"
            subprocess.run(f"git -C {rdir} archive {sha} | tar -x -C {tmp} --one-top-level=t",
                           shell=True, check=True)
            (tree / path).write_text(text)
            return run(cmd, tree)

    return check


def strip_docs(src: str) -> str:
    """A Python module's AST dump without docstrings or module-level strings."""
    tree = ast.parse(src)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            node.body = [s for s in body if not (isinstance(s, ast.Expr)
                                                 and isinstance(s.value, ast.Constant)
                                                 and isinstance(s.value.value, str))] or body
    return ast.dump(tree)


def quixbugs_cases(qdir: Path) -> list[Case]:
    cases = []
    for f in sorted((qdir / "python_programs").glob("*.py")):
        name = f.stem
        if name.endswith("_test") or name == "node":
            continue
        buggy, fixed = f.read_text(), (qdir / "correct_python_programs" / f.name).read_text()
        # Compare code only: drop docstrings/comments from both before locating the change.
        sites = code_diff_lines(buggy, fixed)
        cases.append(Case(id=f"quixbugs {name}", lang="python", buggy=buggy, fixed=fixed,
                          path=f"python_programs/{f.name}", sites=sites,
                          tests=quixbugs_tests(qdir, name),
                          same=lambda a, b: safe_dump(a) == safe_dump(b)))
    return cases


def safe_dump(src: str) -> str | None:
    try:
        return strip_docs(src)
    except SyntaxError:
        return None


def code_lines(src: str) -> list[tuple[int, str]]:
    """(0-based line, text) of lines holding code: no blank, comment or docstring lines."""
    doc: set[int] = set()
    try:
        for node in ast.walk(ast.parse(src)):
            if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)):
                doc.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
    except SyntaxError:
        pass
    out = []
    for i, line in enumerate(src.splitlines()):
        s = line.strip()
        if s and not s.startswith("#") and i not in doc:
            out.append((i, " ".join(line.split("#")[0].split())))
    return out


def code_diff_lines(buggy: str, fixed: str) -> list[int]:
    a, b = code_lines(buggy), code_lines(fixed)
    out = []
    sm = difflib.SequenceMatcher(None, [t for _, t in a], [t for _, t in b], autojunk=False)
    for tag, i1, i2, _j1, _j2 in sm.get_opcodes():
        if tag in ("replace", "delete"):
            out.extend(a[k][0] for k in range(i1, i2))
        elif tag == "insert" and a:
            out.append(a[min(i1, len(a) - 1)][0])
    return sorted(set(out))


def quixbugs_tests(qdir: Path, name: str):
    test = qdir / "python_testcases" / f"test_{name}.py"
    if not test.exists():
        return None

    def check(text: str) -> bool:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "q"
            shutil.copytree(qdir, copy, ignore=shutil.ignore_patterns(".git", "java_*",
                                                                        "correct_java_programs"))
            (copy / "python_programs" / f"{name}.py").write_text(text)
            return run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                        f"python_testcases/test_{name}.py"], copy, timeout=10)

    return check


def engine(cases: list[Case], top: int) -> dict[tuple[str, int], list[dict]]:
    subprocess.run(["cargo", "build", "-q", "-p", "spot-assist", "--example",
                    "template_candidates"], cwd=ROOT, check=True)
    exe = ROOT / "target" / "debug" / "examples" / "template_candidates"
    out: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        reqs = []
        for ci, case in enumerate(cases):
            src = Path(tmp) / f"case{ci}{Path(case.path).suffix}"
            src.write_text(case.buggy)
            project = []
            for pi, item in enumerate(case.project):
                rdir, rev, f = item
                p = Path(tmp) / f"case{ci}_p{pi}{Path(f).suffix}"
                p.write_text(git(rdir, "show", f"{rev}:{f}"))
                project.append(str(p))
            for line in case.sites:
                reqs.append({"id": f"{ci}:{line}", "lang": case.lang, "file": str(src),
                             "sites": [{"line": line, "weight": 1.0}], "project": project,
                             "limit": top})
        req, ans = Path(tmp) / "req.json", Path(tmp) / "ans.json"
        req.write_text(json.dumps(reqs))
        subprocess.run([str(exe), str(req), str(ans)], check=True)
        for a in json.loads(ans.read_text()):
            ci, line = a["id"].split(":")
            out[(cases[int(ci)].id, int(line))] = a["candidates"]
    return out


def apply(text: str, c: dict) -> str:
    b = text.encode()
    r = c["range"]
    return (b[: r["start"]] + c["replacement"].encode() + b[r["end"]:]).decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", type=Path, required=True)
    ap.add_argument("--quixbugs", type=Path)
    ap.add_argument("--top", type=int, default=50, help="candidates asked per site")
    ap.add_argument("--tests", type=int, default=0,
                    help="run the tests on the first K candidates (0: no tests)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    cases = fixture_cases(args.fixtures)
    if args.quixbugs:
        cases += quixbugs_cases(args.quixbugs)
    found = engine(cases, args.top)
    rows = []
    for case in cases:
        same = case.same or (lambda a, b: a == b)
        best = None  # (rank, line, template, describe)
        plausible = None
        fails_before = None
        if args.tests and case.tests is not None:
            fails_before = not case.tests(case.buggy)
        for line in case.sites:
            cands = found.get((case.id, line), [])
            for rank, c in enumerate(cands, 1):
                if best is not None and rank >= best[0]:
                    break
                if same(apply(case.buggy, c), case.fixed):
                    best = (rank, line, c["template"], c["describe"])
                    break
            if fails_before:
                # An exact fix at rank r is plausible there (the fixed file passes): only the
                # candidates before it are run.
                limit = args.tests if best is None or best[1] != line else min(args.tests, best[0])
                for rank, c in enumerate(cands[:limit], 1):
                    if best is not None and best[1] == line and rank == best[0]:
                        plausible = plausible or (rank, line, c["template"], c["describe"])
                        break
                    if plausible is not None and rank >= plausible[0]:
                        break
                    if case.tests(apply(case.buggy, c)):
                        plausible = (rank, line, c["template"], c["describe"])
                        break
        n_changed = len(case.sites)
        row = {
            "case": case.id, "changed_lines": n_changed,
            "exact_rank": best[0] if best else None,
            "exact_template": best[2] if best else None,
            "exact_line": best[1] + 1 if best else None,
            "describe": best[3] if best else None,
            "tests_fail_before": fails_before,
            "plausible_rank": plausible[0] if plausible else None,
            "plausible_template": plausible[2] if plausible else None,
            "plausible_describe": plausible[3] if plausible else None,
            "candidates": sum(len(found.get((case.id, ln), [])) for ln in case.sites),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
