#!/usr/bin/env bash
# Make a Docker engine available for the Molecule scenarios and the lab.
#
# 1. A reachable engine (DOCKER_HOST or the default socket) is used as it is.
# 2. Otherwise, as root on Debian/Ubuntu: install `docker.io` if dockerd is missing,
#    start dockerd in the background and wait for its socket.
# 3. Otherwise say what to do and exit non-zero.
set -euo pipefail

log=${ORCAQUEEN_DOCKERD_LOG:-/var/log/orcaqueen-dockerd.log}

if docker info >/dev/null 2>&1; then
  echo "ensure-docker: using the running Docker engine"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  cat >&2 <<'EOF'
ensure-docker: no Docker engine answers and this is not root.
  Start one (e.g. `sudo systemctl start docker`) and make sure your user may use it
  (`sudo usermod -aG docker $USER`, then log in again), or run the command as root.
EOF
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-docker: dockerd is missing and this is not a Debian/Ubuntu host: install Docker Engine, then rerun." >&2
    exit 1
  fi
  echo "ensure-docker: installing docker.io from the distribution"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl start docker || true
fi

if ! docker info >/dev/null 2>&1; then
  # A socket left behind by an engine that was killed stops a new one from starting.
  if [ -S /var/run/docker.sock ] && ! pgrep -x dockerd >/dev/null; then
    rm -f /var/run/docker.sock /var/run/docker.pid
  fi
  if ! pgrep -x dockerd >/dev/null; then
    echo "ensure-docker: starting dockerd (log: $log)"
    # In its own session: the engine must outlive the shell (or agent) that started it.
    setsid nohup dockerd >"$log" 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
fi

if ! docker info >/dev/null 2>&1; then
  echo "ensure-docker: dockerd did not answer within 60 s; its log ends with:" >&2
  tail -20 "$log" >&2 || true
  exit 1
fi
echo "ensure-docker: Docker engine ready ($(docker version --format '{{.Server.Version}}'))"
