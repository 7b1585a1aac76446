# shellcheck shell=bash
# Sourced by run-tests.sh, lab.sh and bench.sh: the Ansible strategy of test and lab runs.
#
#   ORCAQUEEN_MITOGEN=1   Mitogen's linear strategy (the pinned test requirement `mitogen`): one
#                         persistent interpreter per container instead of a new `docker exec` +
#                         Python start per task. It engages only for connections named `docker`
#                         (the lab inventory, and tests/molecule/connection.yml for Molecule).
#   ORCAQUEEN_MITOGEN=0   Ansible's own linear strategy, as an operator runs site.yml.
#
# The caller sets the default; docs/testing.md says which runs use which.
orcaqueen_strategy_env() {
  local python="${1:-python3}"
  if [ "${ORCAQUEEN_MITOGEN:-0}" = 1 ]; then
    local dir
    dir=$("$python" -c 'import ansible_mitogen.plugins.strategy as s, os; print(os.path.dirname(s.__file__))') || {
      echo "ORCAQUEEN_MITOGEN=1 but Mitogen is not installed for $python (requirements-test.txt)" >&2
      return 1
    }
    export ANSIBLE_STRATEGY_PLUGINS="$dir" ANSIBLE_STRATEGY=mitogen_linear
  else
    unset ANSIBLE_STRATEGY_PLUGINS
    export ANSIBLE_STRATEGY=linear
  fi
}
