#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the collection.
#
# ansible-test needs the tree at .../ansible_collections/<namespace>/<name>/ and, to
# know which files belong to the collection, a git repository (else it takes every
# file it finds, .venv included).  The repository root IS the collection, so this
# copies the tracked content (no .venv/.git/.collections/.cache/molecule) into
#   $TMPDIR/ansible_collections/orcaqueen/swarm, runs `git init` + `git add` there,
# and runs the sanity tests from that copy.
#
# Usage: tests/sanity.sh [extra ansible-test args, e.g. --test validate-modules]
# Env:   SANITY_PYTHON  (default 3.11, the Python of Debian 12 and of the controller venv)
#        SANITY_MODE    (default --venv: ansible-test builds its own virtualenvs, so the
#                        project .venv is never modified; --local works when the
#                        requirements are already installed)
#        SANITY_KEEP=1  keep the temporary copy
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_version="${SANITY_PYTHON:-3.11}"
mode="${SANITY_MODE:---venv}"

if [[ -z "${VIRTUAL_ENV:-}" && -f "$here/.venv/bin/activate" ]]; then
  # shellcheck disable=SC1091
  source "$here/.venv/bin/activate"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/orcaqueen-sanity.XXXXXX")"
cleanup() { [[ "${SANITY_KEEP:-0}" == 1 ]] || rm -rf "$work"; }
trap cleanup EXIT
dest="$work/ansible_collections/orcaqueen/swarm"
mkdir -p "$dest"

excludes=(.venv .git .collections .cache .ruff_cache .pytest_cache __pycache__ molecule tests/output '*.tar.gz' .lab)
if command -v rsync >/dev/null 2>&1; then
  rsync -a "${excludes[@]/#/--exclude=}" "$here/" "$dest/"
else
  tar -C "$here" "${excludes[@]/#/--exclude=./}" -cf - . | tar -C "$dest" -xf -
fi

# ansible-test bootstraps pip into each virtualenv it makes with a get-pip script downloaded
# from Ansible's CI file server, which these machines cannot reach.  Its own error
# message says to save the script to its cache path by hand; when it is missing, put
# there a stand-in that does the same job from the standard library (ensurepip) and the
# configured package index.  Nothing is written into the repository.
pip_version="$(sed -n "s/^ *pip='\\([0-9.]*\\)',/\\1/p" \
  "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n1)"
pip_version="${pip_version:-24.2}"
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [[ ! -s "$get_pip" ]] || grep -q "made by orcaqueen tests/sanity.sh" "$get_pip"; then
  mkdir -p "$(dirname "$get_pip")"
  cat > "$get_pip" <<'PY'
"""Stand-in for get-pip.py (ansible-test pip bootstrap) made by orcaqueen tests/sanity.sh."""
import subprocess
import sys

# In a child process: ensurepip.bootstrap() would blank the pip configuration (PIP_CONFIG_FILE)
# of this process, and with it the CA bundle the package index needs.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
PY
fi

cd "$dest"
git init -q
git add -A
git -c user.name=sanity -c user.email=sanity@invalid commit -q -m sanity --no-gpg-sign

# Tests skipped, and why:
#  - shellcheck: the shellcheck binary is not installed on these machines (Debian package
#    `shellcheck` provides it; the test runs when it is on PATH, see below).
skips=()
if ! command -v shellcheck >/dev/null 2>&1; then
  skips+=(--skip-test shellcheck)
fi

set -x
ansible-test sanity "$mode" --python "$python_version" --requirements --color no "${skips[@]}" "$@"
