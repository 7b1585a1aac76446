#!/usr/bin/env bash
# Build tailscale, tailscaled and headscale from source at pinned versions, for the lab and CI
# (no release download host is reachable there). The Go module proxy is the only source.
#
#   scripts/build-tailscale.sh            # build what is missing, print paths and sha256
#   scripts/build-tailscale.sh --env      # same, then print shell assignments (eval-able)
#
# Output (cached; rebuilt only when missing):
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/tailscale/<version>/{tailscale,tailscaled,SHA256SUMS}
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/headscale/<version>/{headscale,SHA256SUMS}
#
# The binaries are what the roles' `binary` install method takes from a controller path
# (tailscale_binary_src_dir / headscale_binary_src with their sha256).
set -euo pipefail

TAILSCALE_VERSION=${TAILSCALE_VERSION:-1.102.0}
HEADSCALE_VERSION=${HEADSCALE_VERSION:-0.29.0}
cache=${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}
ts_dir="$cache/tailscale/$TAILSCALE_VERSION"
hs_dir="$cache/headscale/$HEADSCALE_VERSION"

command -v go >/dev/null || { echo "build-tailscale: go is not installed (Go >= 1.26 is needed)" >&2; exit 2; }
export GOTOOLCHAIN=local


complete() {  # dir file...: every file exists and matches SHA256SUMS
  local dir=$1; shift
  [ -f "$dir/SHA256SUMS" ] || return 1
  for f in "$@"; do [ -x "$dir/$f" ] || return 1; done
  (cd "$dir" && sha256sum --quiet -c SHA256SUMS) >/dev/null 2>&1
}

if complete "$ts_dir" tailscale tailscaled; then
  echo "build-tailscale: tailscale $TAILSCALE_VERSION is cached in $ts_dir" >&2
else
  echo "build-tailscale: building tailscale $TAILSCALE_VERSION (go install, several minutes on a cold cache)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install "tailscale.com/cmd/tailscale@v$TAILSCALE_VERSION" "tailscale.com/cmd/tailscaled@v$TAILSCALE_VERSION"
  mkdir -p "$ts_dir"
  install -m 0755 "$tmp/tailscale" "$tmp/tailscaled" "$ts_dir/"
  (cd "$ts_dir" && sha256sum tailscale tailscaled > SHA256SUMS)
  rm -rf "$tmp"; trap - EXIT
fi

if complete "$hs_dir" headscale; then
  echo "build-tailscale: headscale $HEADSCALE_VERSION is cached in $hs_dir" >&2
else
  # `go install ...@vX` asks the proxy for the version list (deprecation check), which the
  # proxy here refuses; a throwaway module with `go get` + `go build` does not need it.
  echo "build-tailscale: building headscale $HEADSCALE_VERSION (throwaway module + go build)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (
    cd "$tmp"
    go mod init orcaqueen.invalid/hsbuild >/dev/null 2>&1
    go get "github.com/juanfont/headscale/cmd/headscale@v$HEADSCALE_VERSION"
    go build -o "$tmp/headscale" github.com/juanfont/headscale/cmd/headscale
  )
  mkdir -p "$hs_dir"
  install -m 0755 "$tmp/headscale" "$hs_dir/"
  (cd "$hs_dir" && sha256sum headscale > SHA256SUMS)
  rm -rf "$tmp"; trap - EXIT
fi

ts_sha=$(awk '$2=="tailscale"{print $1}' "$ts_dir/SHA256SUMS")
tsd_sha=$(awk '$2=="tailscaled"{print $1}' "$ts_dir/SHA256SUMS")
hs_sha=$(awk '$2=="headscale"{print $1}' "$hs_dir/SHA256SUMS")
echo "build-tailscale: $ts_dir/tailscale   sha256 $ts_sha" >&2
echo "build-tailscale: $ts_dir/tailscaled  sha256 $tsd_sha" >&2
echo "build-tailscale: $hs_dir/headscale   sha256 $hs_sha" >&2
if [ "${1:-}" = --env ]; then
  printf 'ORCAQUEEN_TAILSCALE_VERSION=%s\nORCAQUEEN_TAILSCALE_DIR=%s\nORCAQUEEN_TAILSCALE_SHA256=%s\nORCAQUEEN_TAILSCALED_SHA256=%s\n' \
    "$TAILSCALE_VERSION" "$ts_dir" "$ts_sha" "$tsd_sha"
  printf 'ORCAQUEEN_HEADSCALE_VERSION=%s\nORCAQUEEN_HEADSCALE_BINARY=%s\nORCAQUEEN_HEADSCALE_SHA256=%s\n' \
    "$HEADSCALE_VERSION" "$hs_dir/headscale" "$hs_sha"
fi
