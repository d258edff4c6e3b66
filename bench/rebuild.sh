#!/usr/bin/env bash
# Incremental rebuild of the `spot` binary after a one-line code change in assist (a string
# literal in `validate()`), before the workspace split (one crate, commit e500337) and after it
# (this tree), interleaved; prints each round, the medians (first round left out: it warms the
# incremental caches) and the ratio.
#
#   git worktree add --detach /tmp/spot-before e500337 && (cd /tmp/spot-before && cargo build --bin spot)
#   BEFORE=/tmp/spot-before ROUNDS=4 bash bench/rebuild.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
before="${BEFORE:?set BEFORE to a built checkout of e500337}"; after="$PWD"
fb="$before/server/src/assist/patch.rs"; fa="$after/crates/spot-assist/src/patch.rs"
probe='no rewritten function in the answer'
grep -q "$probe" "$fb" && grep -q "$probe" "$fa"
cargo build --bin spot >/dev/null 2>&1
b=(); a=()
for i in $(seq "${ROUNDS:-4}"); do
  for side in before after; do
    if [ "$side" = before ]; then dir="$before"; f="$fb"; else dir="$after"; f="$fa"; fi
    cp "$f" "$f.bak"
    sed -i "s/$probe\"/$probe ($i)\"/" "$f"
    s=$(date +%s.%N)
    (cd "$dir" && cargo build --bin spot >/dev/null 2>&1)
    e=$(date +%s.%N)
    mv "$f.bak" "$f"
    t=$(python3 -c "print(round($e - $s, 2))")
    echo "round $i $side ${t} s (load $(cut -d' ' -f1 /proc/loadavg))"
    if [ "$i" -gt 1 ]; then if [ "$side" = before ]; then b+=("$t"); else a+=("$t"); fi; fi
  done
done
cargo build --bin spot >/dev/null 2>&1
python3 - "${b[*]}" "${a[*]}" <<'PY'
import statistics, sys
b = [float(x) for x in sys.argv[1].split()]; a = [float(x) for x in sys.argv[2].split()]
mb, ma = statistics.median(b), statistics.median(a)
print(f"one-line change in assist, incremental rebuild: before (one crate) {mb:.1f} s, "
      f"after (workspace) {ma:.1f} s, ratio {ma / mb:.2f}x")
PY
