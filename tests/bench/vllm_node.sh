#!/usr/bin/env bash
# Run ON a lab node that serves vLLM (scripts/bench.sh pipes it into `docker exec`): cold start of
# the first model, and the latency of one small completion directly on the loopback port vs.
# through the TLS proxy. Prints tab-separated figures: cold_start, direct_ms, proxy_ms, ratio.
set -euo pipefail
settings=$(ls /etc/orcaqueen/vllm/*.json | head -1)
model=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$settings")
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$settings")
listen=$(sed -n 's/^ *listen \([0-9.]*\):\([0-9]*\) ssl;/\1:\2/p' /etc/orcaqueen/vllm/proxy.conf | head -1)
ca=/run/orcaqueen/secrets/vllm-proxy/ca_chain.pem
# The proxy checks the clients' key (the first line of the keys its agent renders); the model on loopback
# takes the host's own loopback key.
client="Authorization: $(head -n 1 /run/orcaqueen/secrets/vllm-proxy/client_keys | cut -d '"' -f 2)"
loopback="Authorization: Bearer $(cat /etc/orcaqueen/vllm/loopback_key)"
body="{\"model\": \"$model\", \"prompt\": \"the swarm\", \"max_tokens\": 8, \"temperature\": 0}"
runs=${RUNS:-30}

start=$(date +%s.%N)
systemctl restart "vllm-$model.service"
until curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do sleep 0.5; done
cold=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')

# One warm-up request each, then the median of $runs.
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
direct() { curl -fsS -o /dev/null -w '%{time_total}\n' -H "$loopback" -H 'Content-Type: application/json' -d "$body" \
  "http://127.0.0.1:$port/v1/completions"; }
proxied() { curl -fsS -o /dev/null -w '%{time_total}\n' --cacert "$ca" -H "$client" -H 'Content-Type: application/json' \
  -d "$body" "https://$listen/$model/v1/completions"; }
direct >/dev/null
proxied >/dev/null
d=$(for _ in $(seq "$runs"); do direct; done | median)
p=$(for _ in $(seq "$runs"); do proxied; done | median)
awk -v c="$cold" -v d="$d" -v p="$p" \
  'BEGIN { printf "cold_start\t%s\ndirect_ms\t%.1f\nproxy_ms\t%.1f\nratio\t%.2f\n", c, d * 1000, p * 1000, p / d }'
