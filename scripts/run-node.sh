#!/usr/bin/env bash
# Start one systemd "host" container from a local base image, the way every test and
# the lab do (the settings that run systemd on these machines; --privileged fails here).
#
#   scripts/run-node.sh NAME HOSTNAME NETWORK [IMAGE]
#
# Replaces a container of the same name; waits until systemd is up.
set -euo pipefail
name=${1:?usage: run-node.sh NAME HOSTNAME NETWORK [IMAGE]}
hostname=${2:?hostname}
network=${3:?network}
image=${4:-orcaqueen/debian12:latest}

docker network inspect "$network" >/dev/null 2>&1 || docker network create "$network" >/dev/null
docker rm -f "$name" >/dev/null 2>&1 || true
# The host's vLLM wheelhouse and test model (scripts/fetch-vllm.sh), read-only: what an
# air-gapped site stages on its hosts (vllm_wheelhouse).
extra=()
vllm_cache=${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/vllm
[ -d "$vllm_cache" ] && extra+=(--volume "$vllm_cache:/srv/orcaqueen-cache/vllm:ro")
# /dev/net/tun: tailscaled runs in kernel mode (a real tailscale0 interface), as on a host.
# --shm-size: vLLM's processes exchange tensors through /dev/shm (Docker's default is 64 MiB).
docker run --detach --name "$name" --hostname "$hostname" --network "$network" --network-alias "$hostname" \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined \
  --device /dev/net/tun \
  --shm-size 1g \
  --cgroupns host --volume /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
  "${extra[@]}" \
  "$image" /lib/systemd/systemd >/dev/null
for _ in $(seq 1 30); do
  case "$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)" in
    running|degraded) exit 0 ;;
  esac
  sleep 1
done
echo "run-node: systemd in $name did not come up within 30 s" >&2
exit 1
