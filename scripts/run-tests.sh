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
# Mitogen for the Molecule scenarios' own plays unless ORCAQUEEN_MITOGEN=0. The `swarm` stage
# runs its idempotence converge of site.yml with Ansible's own strategy, as an operator runs it:
# every task of every role under the default strategy, changed=0 (docs/testing.md).
export ORCAQUEEN_MITOGEN="${ORCAQUEEN_MITOGEN:-1}"
# shellcheck source=scripts/strategy-env.sh
. "$top/scripts/strategy-env.sh"

all_stages="lint build unit rules sanity harness molecule-hardening molecule-monitoring molecule-qdrant molecule-vault molecule-vault-ha molecule-tailscale molecule-swarm integration"
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

# `molecule test -s <scenario>`, one action at a time: the scenario's own test_sequence, the
# driver's create/destroy (localhost, async docker tasks, which Mitogen does not wait for) and the
# actions named in ANSIBLE_OWN_STRATEGY_ACTIONS with Ansible's own strategy, everything else with
# the strategy chosen above. The actions named in FAST_PATH_ACTIONS run the roles' fast path
# (swarm_skip_unchanged true, as an operator's re-run does; tests/molecule/connection.yml), the
# others converge in full. A failed action destroys the scenario, as `molecule test` does.
molecule_scenario() {
  local scenario=$1 action rc=0
  local sequence
  sequence=$(python - "molecule/$scenario/molecule.yml" <<'PY'
import sys, yaml
scenario = yaml.safe_load(open(sys.argv[1])).get("scenario", {})
print(" ".join(scenario.get("test_sequence") or
               ["destroy", "create", "prepare", "converge", "idempotence", "side_effect", "verify", "destroy"]))
PY
) || return 1
  for action in $sequence; do
    if [[ " ${FAST_PATH_ACTIONS:-} " == *" $action "* ]]; then
      export ORCAQUEEN_SKIP_UNCHANGED=true
    else
      export ORCAQUEEN_SKIP_UNCHANGED=false
    fi
    if [[ " create destroy ${ANSIBLE_OWN_STRATEGY_ACTIONS:-} " == *" $action "* ]]; then
      (ORCAQUEEN_MITOGEN=0 && orcaqueen_strategy_env python && molecule "$action" -s "$scenario")
    else
      (orcaqueen_strategy_env python && molecule "${action//_/-}" -s "$scenario")
    fi || { rc=1; echo "molecule $action -s $scenario failed"; break; }
  done
  if [ "$rc" -ne 0 ]; then
    (ORCAQUEEN_MITOGEN=0 && orcaqueen_strategy_env python && molecule destroy -s "$scenario") || true
  fi
  return "$rc"
}

stage_molecule-hardening() {
  molecule_scenario hardening
}

stage_molecule-monitoring() {
  molecule_scenario monitoring
}

stage_molecule-qdrant() {
  molecule_scenario qdrant
}

stage_molecule-vault() {
  molecule_scenario vault
}

stage_molecule-vault-ha() {
  molecule_scenario vault-ha
}

stage_molecule-tailscale() {
  molecule_scenario tailscale
}

# The swarm's idempotence run is the operator's re-run of site.yml: Ansible's own strategy and the
# fast path. The roles prove changed=0 task by task in their own scenarios (vLLM in this one's
# verifier, verify_vllm.yml).
stage_molecule-swarm() {
  ANSIBLE_OWN_STRATEGY_ACTIONS=idempotence FAST_PATH_ACTIONS=idempotence molecule_scenario swarm
}

stage_integration() {
  pytest -q tests/integration
}

# run_stage STAGE: run one stage with its output in $logs/STAGE.log, print that log in one piece
# when the stage ends (lanes run side by side), and record "result seconds" in $logs/STAGE.result.
run_stage() {
  local stage=$1 start result took
  start=$(date +%s)
  if [ "${#side_lane[@]}" -eq 0 ]; then
    # One lane: stream the output as it comes.
    echo
    echo "==================== stage: $stage ===================="
    if "stage_$stage" 2>&1 | tee "$logs/$stage.log"; then result=passed; else result=FAILED; fi
    took=$(( $(date +%s) - start ))
    echo "==================== stage: $stage $result in ${took}s ===================="
  else
    if "stage_$stage" >"$logs/$stage.log" 2>&1; then result=passed; else result=FAILED; fi
    took=$(( $(date +%s) - start ))
    {
      flock 9
      echo
      echo "==================== stage: $stage ===================="
      cat "$logs/$stage.log"
      echo "==================== stage: $stage $result in ${took}s ===================="
    } 9>"$logs/.print.lock"
  fi
  echo "$result $took" >"$logs/$stage.result"
}

# wait_for_harness STAGE: a stage that needs Docker, the images or the cached binaries (the
# Molecule scenarios and the integration tests) waits until the harness stage has ended (it runs
# in the second lane, beside lint, build, unit, rules and sanity, which need none of it).
wait_for_harness() {
  case "$1" in molecule-* | integration) ;; *) return 0 ;; esac
  [[ " ${side_lane[*]} " == *" harness "* ]] || return 0
  while [ ! -e "$logs/harness.result" ]; do sleep 2; done
}

# run_lane STAGE...: the stages one after another.
run_lane() {
  local stage
  for stage in "$@"; do
    wait_for_harness "$stage"
    run_stage "$stage"
  done
}

# Stages in the parallel lane (ORCAQUEEN_TEST_LANES=2, the default): the harness first (Docker,
# the images, the binaries: mostly downloads and image builds, while the main lane runs the
# static stages), then the `vault-ha`, `tailscale` and `swarm` scenarios (swarm is the longest), beside
# everything else (the two lanes take about as long as each other on the 2-core machine: in CI at
# a11ed81 the main lane took 2,004 s with vault-ha, the second 1,780 s without). Much of
# a scenario's time is spent waiting (services starting, health gates, timers), so two lanes share
# the 2 cores well (docs/testing.md). ORCAQUEEN_TEST_LANES=1 runs every stage in order.
parallel_stages="${PARALLEL_STAGES:-harness molecule-vault-ha molecule-swarm molecule-tailscale}"
lanes="${ORCAQUEEN_TEST_LANES:-2}"
logs=$(mktemp -d /tmp/orcaqueen-tests.XXXXXX)
suite_start=$(date +%s)

main_lane=()
side_lane=()
for stage in $stages; do
  if [ "$lanes" -gt 1 ] && [[ " $parallel_stages " == *" $stage "* ]]; then
    side_lane+=("$stage")
  else
    main_lane+=("$stage")
  fi
done
# A second lane only when each lane has something to run.
if [ "${#main_lane[@]}" -eq 0 ] || [ "${#side_lane[@]}" -eq 0 ]; then
  main_lane=($stages)
  side_lane=()
fi
if [ "${#side_lane[@]}" -gt 0 ]; then
  run_lane "${side_lane[@]}" &
  side_pid=$!
fi
run_lane "${main_lane[@]}"
[ -n "${side_pid:-}" ] && wait "$side_pid"

# The stage table, made once: printed, and kept for `make bench` after a full run.
passed=0
failed=0
table="$logs/table.txt"
for stage in $stages; do
  read -r result took <"$logs/$stage.result" || { result=FAILED; took=0; }
  printf '%-22s %-7s %5ss\n' "$stage" "$result" "$took" >>"$table"
  if [ "$result" = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
wall=$(( $(date +%s) - suite_start ))
echo
echo "stage                  result   time"
cat "$table"
echo "suite wall time: ${wall}s (lanes: $lanes)"
echo "stages: $passed passed, $failed failed"
if [ "$stages" = "$all_stages" ]; then
  mkdir -p "$top/.cache"
  {
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, lanes $lanes, Mitogen $ORCAQUEEN_MITOGEN"
    cat "$table"
    echo "suite wall time: ${wall}s; stages: $passed passed, $failed failed"
  } >"$top/.cache/test-times.txt"
fi
rm -rf "$logs"
[ "$failed" -eq 0 ]
