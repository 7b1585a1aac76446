#!/usr/bin/env bash
# The whole test suite, stage by stage (called by `make test`).
#
#   scripts/run-tests.sh                 every stage
#   STAGES="lint unit" scripts/run-tests.sh   only those stages
#
# Each stage runs to the end even when an earlier one failed; the run prints how long
# each stage took and closes with one line `N passed, N failed` (stages), and exits
# non-zero when any stage failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv="${VENV:-$top/.venv}"
export PATH="$venv/bin:$PATH"
export ANSIBLE_CONFIG="$top/ansible.cfg"
export ANSIBLE_FORCE_COLOR=false PY_COLORS=0 NO_COLOR=1

all_stages="lint build unit rules sanity harness molecule-common molecule-hardening molecule-monitoring molecule-vault_agent molecule-qdrant molecule-vault molecule-vault-ha molecule-tailscale molecule-vllm molecule-swarm integration"
stages="${STAGES:-$all_stages}"

stage_lint() {
  yamllint -s . &&
    ansible-lint --offline -q &&
    ruff check plugins tests &&
    antsibull-changelog lint
}

stage_build() {
  local out
  out=$(mktemp -d)
  ansible-galaxy collection build --force --output-path "$out" . || return 1
  ls "$out"/orcaqueen-swarm-*.tar.gz || return 1
  rm -rf "$out"
  # Every role's argument spec and every module's documentation must render.
  for role in roles/*/; do
    role=$(basename "$role")
    ansible-doc -t role "orcaqueen.swarm.$role" >/dev/null || { echo "ansible-doc failed for role $role"; return 1; }
  done
  for module in plugins/modules/*.py; do
    module=$(basename "$module" .py)
    ansible-doc "orcaqueen.swarm.$module" >/dev/null || { echo "ansible-doc failed for module $module"; return 1; }
  done
  for doc in plugins/filter/*.yml; do
    filter=$(basename "$doc" .yml)
    ansible-doc -t filter "orcaqueen.swarm.$filter" >/dev/null || { echo "ansible-doc failed for filter $filter"; return 1; }
  done
  echo "collection builds; ansible-doc renders every role, module and filter"
}

stage_unit() {
  pytest -q tests/unit
}

stage_rules() {
  tests/rules/run.sh
}

stage_sanity() {
  tests/sanity.sh
}

stage_harness() {
  scripts/ensure-docker.sh || return 1
  # Containers left by an earlier, interrupted run (Molecule labels its own).
  docker ps -aq --filter label=owner=molecule | xargs -r docker rm -f >/dev/null
  scripts/build-image.sh debian12 &&
    scripts/build-image.sh debian13 &&
    scripts/fetch-openbao.sh &&
    scripts/build-tailscale.sh &&
    scripts/fetch-vllm.sh
}

stage_molecule-common() {
  molecule test -s common
}

stage_molecule-hardening() {
  molecule test -s hardening
}

stage_molecule-monitoring() {
  molecule test -s monitoring
}

stage_molecule-vault_agent() {
  molecule test -s vault_agent
}

stage_molecule-qdrant() {
  molecule test -s qdrant
}

stage_molecule-vllm() {
  molecule test -s vllm
}

stage_molecule-vault() {
  molecule test -s vault
}

stage_molecule-vault-ha() {
  molecule test -s vault-ha
}

stage_molecule-tailscale() {
  molecule test -s tailscale
}

stage_molecule-swarm() {
  molecule test -s swarm
}

stage_integration() {
  pytest -q tests/integration
}

passed=0
failed=0
report=()
for stage in $stages; do
  echo
  echo "==================== stage: $stage ===================="
  start=$(date +%s)
  if "stage_$stage"; then
    result=passed
    passed=$((passed + 1))
  else
    result=FAILED
    failed=$((failed + 1))
  fi
  took=$(( $(date +%s) - start ))
  report+=("$(printf '%-22s %-7s %5ss' "$stage" "$result" "$took")")
  echo "==================== stage: $stage $result in ${took}s ===================="
done

echo
echo "stage                  result   time"
printf '%s\n' "${report[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
