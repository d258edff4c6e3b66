#!/usr/bin/env bash
# Prepares the test environments for `spot eval patch --test-cmd` on the repositories of
# bench/patch/repos.md, and prints each repository's mirror path and --test-cmd.
#
#   bash bench/patch/setup_repos.sh            # all repositories
#   bash bench/patch/setup_repos.sh click qs   # some of them
#
# Environments go under $SPOT_BENCH_HOME (default ~/.cache/spot-bench): one venv per Python
# repository (Python 3.11, exact pins), one node_modules per JavaScript repository (installed
# with `npm ci` from the lockfiles in bench/patch/node/). Downloads are cached under $HOME
# (pip's cache, and $SPOT_BENCH_HOME/npm-cache). Nothing is installed from a repository's own
# tree: the test commands import the code of whatever tree they run in (PYTHONPATH / NODE_PATH),
# so they work in spot's scratch copies.
#
# The mirrors are bare git directories; $MIRRORS (default /work/.mirror) holds them as
# owner+name/repo. A missing one is reported with the source to fetch it from.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH="${SPOT_BENCH_HOME:-$HOME/.cache/spot-bench}"
MIRRORS="${MIRRORS:-/work/.mirror}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$BENCH"

# name | owner/repo | mirror HEAD the cases were mined at | pip pins (Python) or "node"
REPOS=(
  "click|pallets/click|2c8cd3ac958a7eb316d67f2d316c27086c4c0369|coverage==7.18.0 pytest==8.3.5 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4 click==8.2.1"
  "boltons|mahmoud/boltons|967864f89791509f9eb36b22b4579d36b72a6df2|coverage==7.18.0 pytest==8.3.5 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4"
  "marshmallow|marshmallow-code/marshmallow|341b927f219205704728c05cd61f04d7e9727523|coverage==7.18.0 pytest==8.3.5 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4 simplejson==4.3.0 pytz==2026.6 python-dateutil==4.0.0 tzdata==2026.6 marshmallow==3.23.0"
  "arrow|arrow-py/arrow|b247ad073d4c350270528edb5afff8e7f4f7d9e4|coverage==7.18.0 pytest==8.3.5 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4 pytest-mock==3.17.0 python-dateutil==4.0.0 pytz==2026.6 simplejson==4.3.0 dateparser==1.5.0 regex==2026.12.2 tzdata==2026.6 tzlocal==5.4.5"
  "more-itertools|more-itertools/more-itertools|2fe1b2eeb9d75f994113fe3ac76d14b6bcd6fb10|coverage==7.18.0 pytest==8.3.5 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4"
  "qs|ljharb/qs|3a890d4ecd3deb72a45d90be36f4f8c5970467c7|node"
  "node-semver|npm/node-semver|6e05b7637396ac66522cff8731f07cfe0ef49a29|node"
)

# The --test-cmd of each repository, run by spot with `sh -c` at the root of the tree.
# Single-quoted on purpose: $HOME is expanded when the command runs.
test_cmd() {
  local V='$HOME/.cache/spot-bench'
  [ -n "${SPOT_BENCH_HOME:-}" ] && V="$SPOT_BENCH_HOME"
  # `ulimit -v` (4 GiB of address space) keeps a buggy tree from eating the machine: boltons'
  # xfrange at the parent of 3e9983db7b allocates without bound and was OOM-killed without it.
  local L='ulimit -v 4194304;'
  case "$1" in
    # A released click/marshmallow is installed only for its metadata
    # (importlib.metadata.version() in the tests); the tree's src/ shadows its code.
    # The parametrized test_echo_via_pager (moved to tests/test_utils/ in 2026-07) is flaky here.
    click) echo "$L PYTHONPATH=src $V/venv-click/bin/python -m pytest -q -p no:cacheprovider --deselect 'tests/test_utils.py::test_echo_via_pager[' --deselect 'tests/test_utils/test_echo_via_pager.py::test_echo_via_pager[' tests" ;;
    boltons) echo "$L $V/venv-boltons/bin/python -m pytest -q -p no:cacheprovider tests" ;;
    marshmallow) echo "$L PYTHONPATH=src $V/venv-marshmallow/bin/python -m pytest -q -p no:cacheprovider tests" ;;
    # -o addopts= drops tox.ini's --cov* options (pytest-cov is not installed; its 99% floor
    # fails partial runs); test_anchorage_dst fails at most older commits with today's tz data.
    arrow) echo "$L $V/venv-arrow/bin/python -m pytest -q -p no:cacheprovider -o addopts= --deselect tests/test_arrow.py::TestArrowConversion::test_anchorage_dst tests" ;;
    more-itertools) echo "$L $V/venv-more-itertools/bin/python -m pytest -q -p no:cacheprovider tests" ;;
    # The node commands were mined without a ulimit (none of their buggy trees ran away).
    qs) echo "NODE_PATH=$V/node-qs/node_modules node $V/node-qs/node_modules/tape/bin/tape 'test/**/*.js'" ;;
    node-semver) echo "NODE_PATH=$V/node-semver/node_modules $V/node-semver/node_modules/.bin/tap --no-coverage -R tap" ;;
  esac
}

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w
  for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

missing=0
for entry in "${REPOS[@]}"; do
  IFS='|' read -r name slug head pins <<<"$entry"
  selected "$name" || continue
  mirror="$MIRRORS/${slug/\//+}/repo"
  if ! git --git-dir="$mirror" cat-file -e "$head^{commit}" 2>/dev/null; then
    echo "MISSING mirror of $slug at $head: fetch source github:$slug (expected at $mirror)" >&2
    missing=1
    continue
  fi
  if [ "$pins" = node ]; then
    dir="$BENCH/node-${name#node-}"
    mkdir -p "$dir"
    cp "$HERE/node/$name/package.json" "$HERE/node/$name/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --cache "$BENCH/npm-cache" >/dev/null)
  else
    venv="$BENCH/venv-$name"
    [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps $pins
  fi
  if [ "$(git --git-dir="$mirror" rev-parse HEAD)" != "$head" ]; then
    # The TSV ranks count from this HEAD: pin a copy of the mirror at it.
    echo "WARNING: $mirror has moved past $head; for the recorded cases use a pinned copy:" >&2
    echo "  git clone -q --bare $mirror $BENCH/repos/$name.git &&" \
      "git --git-dir=$BENCH/repos/$name.git update-ref \$(git --git-dir=$BENCH/repos/$name.git symbolic-ref HEAD) $head" >&2
  fi
  echo "== $name ($slug @ ${head:0:12})"
  echo "   --repo $mirror"
  echo "   --test-cmd \"$(test_cmd "$name")\""
done
exit $missing
