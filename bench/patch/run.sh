#!/usr/bin/env bash
# Test-driven repair on real history: `spot eval patch` on each repository of repos.md, one JSON
# report per repository, then the table (bench/patch/table.py).
#
#   SPOT=target/release/spot OUT=/tmp/patch-eval LIMIT=6 BUDGET=150 \
#     ARGS="--no-model" bash bench/patch/run.sh [NAME...]
#
# NAME: click boltons marshmallow more-itertools arrow qs node-semver (default: the held-out five:
# click marshmallow more-itertools arrow node-semver; boltons and qs were used for tuning).
# ARGS: extra `spot eval patch` flags (`--no-model`, `--no-coverage`, `--model DIR`).
# Environments come from setup_repos.sh (cached under ~/.cache/spot-bench).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
spot="${SPOT:-target/release/spot}"
out="${OUT:-target/bench-patch}"
mkdir -p "$out"
bash bench/patch/setup_repos.sh "$@" 2>/dev/null | awk '
  /^== /{name=$2}
  /--repo/{repo=$2}
  /--test-cmd/{sub(/^ *--test-cmd "/,""); sub(/"$/,""); print name "\t" repo "\t" $0}' > "$out/repos.tsv"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(click marshmallow more-itertools arrow node-semver)
for name in "${names[@]}"; do
  line=$(awk -F'\t' -v n="$name" '$1 == n' "$out/repos.tsv")
  [ -n "$line" ] || { echo "unknown repository: $name" >&2; continue; }
  repo=$(cut -f2 <<<"$line"); cmd=$(cut -f3- <<<"$line")
  echo "== $name ($(date +%T))"
  start=$(date +%s)
  # shellcheck disable=SC2086
  nice -n 10 "$spot" eval patch --repo "$repo" --test-cmd "$cmd" ${ARGS:-} \
    --limit "${LIMIT:-6}" --budget "${BUDGET:-150}" --json > "$out/$name.json" 2> "$out/$name.err"
  echo "   exit $?, $(( $(date +%s) - start )) s"
done
python3 bench/patch/table.py "${LABEL:-run}=$out"
