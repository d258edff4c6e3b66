#!/usr/bin/env bash
# Time to the first plausible fix of the demo's reproduction test (issue 21 goal: < 15 s on
# 2 cores), against the anchor of one run of the fixture's test command, measured interleaved
# (A B A B ...) in the same run; prints the medians and the ratio.
#
#   SPOT=target/release/spot RUNS=5 bash bench/patch/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
spot="$(realpath "${SPOT:-target/release/spot}")"
runs="${RUNS:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 fixtures/repos/make_repos.py "$work" --force >/dev/null
repo="$work/py-inventory"
cp fixtures/repos/py-inventory.repro_test.py "$repo/tests/test_repro.py"
issue="$(cat fixtures/repos/py-inventory.issue.md)"
tests="python3 -m unittest discover -s tests -q"
export SPOT_DATA_DIR="${SPOT_DATA_DIR:-$HOME/.local/share/spot}"
"$spot" index "$repo" >/dev/null
now() { date +%s.%N; }
spot_t=(); anchor_t=()
for i in $(seq "$runs"); do
  s=$(now)
  out=$("$spot" patch "$repo" "$issue" --test-cmd "$tests" --json 2>/dev/null)
  e=$(now)
  verdict=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])' <<<"$out")
  [ "$verdict" = fixes_failing_tests ] || { echo "run $i: verdict $verdict" >&2; exit 1; }
  spot_t+=("$(python3 -c "print($e - $s)")")
  s=$(now)
  (cd "$repo" && sh -c "$tests" >/dev/null 2>&1) || true
  e=$(now)
  anchor_t+=("$(python3 -c "print($e - $s)")")
done
python3 - "${spot_t[*]}" "${anchor_t[*]}" <<'PY'
import statistics, sys
spot = [float(x) for x in sys.argv[1].split()]
anchor = [float(x) for x in sys.argv[2].split()]
s, a = statistics.median(spot), statistics.median(anchor)
print(f"first plausible fix of the demo's reproduction test: median {s:.2f} s over {len(spot)} runs "
      f"(range {min(spot):.2f}-{max(spot):.2f}); goal < 15 s")
print(f"anchor, one run of the test command: median {a:.2f} s; ratio {s / a:.1f}x")
PY
