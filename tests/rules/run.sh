#!/usr/bin/env bash
# Checks and unit-tests the alert rules shipped in roles/prometheus/files/rules/:
#   1. promtool check rules  on every rule file,
#   2. promtool test rules   on every tests/rules/*_test.yml,
#   3. every alert of every rule file is named by at least one test (alertname: <Alert>).
# Exits non-zero on any failure. promtool comes from Debian's `prometheus` package; as root
# the script installs it when missing, otherwise it says how to get it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rules_dir="$(cd "${here}/../../roles/prometheus/files/rules" && pwd)"

if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "promtool missing: installing Debian's prometheus package (promtool only; the service is not started here)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 || {
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
        }
    else
        echo "promtool not found: install it (Debian: sudo apt-get install prometheus) or put it on PATH" >&2
        exit 2
    fi
fi

shopt -s nullglob
rule_files=("${rules_dir}"/*.yml)
test_files=("${here}"/*_test.yml)
if [ "${#rule_files[@]}" -eq 0 ] || [ "${#test_files[@]}" -eq 0 ]; then
    echo "no rule files in ${rules_dir} or no tests in ${here}" >&2
    exit 1
fi

echo "== promtool check rules (${#rule_files[@]} files)"
promtool check rules "${rule_files[@]}"

echo "== promtool test rules (${#test_files[@]} files)"
promtool test rules "${test_files[@]}"

echo "== every alert has a test"
missing=0
alerts=$(sed -n 's/^[[:space:]]*- alert:[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "${rule_files[@]}" | sort -u)
for alert in ${alerts}; do
    if ! grep -qE "alertname:[[:space:]]*${alert}[[:space:]]*$" "${test_files[@]}"; then
        echo "  no promtool test for alert ${alert}" >&2
        missing=1
    fi
done
[ "${missing}" -eq 0 ] || exit 1
echo "  $(echo "${alerts}" | wc -w) alerts, all tested"
