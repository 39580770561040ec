#!/usr/bin/env bash
# The front's CPU per request at a paced trivial load, beside node:http's (the ceiling): 16 users
# pausing 75 ms on average (bench/loadgen.py, no slow requests), 8 s, twice each. At such a load
# every request wakes an idle process; compare with the saturated figure of `npm run bench`.
# Usage: bash bench/paced-front.sh [W]   (ports 18411/18412; run it on a quiet machine)
set -euo pipefail
cd "$(dirname "$0")/.."
w=${1:-2}
measure() { # name pid port
  local t0 t1 out n
  t0=$(awk '{print $14+$15}' "/proc/$2/stat")
  out=$(python3 bench/loadgen.py --port "$3" --users 16 --think-ms 75 --seconds 8 --share 0 \
    --fast-path "/add?x=2&y=3" --slow-path /slow | grep BENCH_JSON)
  t1=$(awk '{print $14+$15}' "/proc/$2/stat")
  n=$(echo "${out#BENCH_JSON }" | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(v['requests'] for k,v in d.items() if k!='duration_us'))")
  echo "$1: $n requests, front CPU $(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / n )) µs/req"
}
node bench/apps/node_server.mjs --port 18411 >/dev/null 2>&1 & np=$!
node bin/neutrino.js serve bench/apps/neutrino_app.py:app --workers "$w" --port 18412 --python bench/.venv/bin/python >/dev/null 2>&1 & tp=$!
trap 'kill $np 2>/dev/null; kill -TERM $tp 2>/dev/null; wait' EXIT
sleep 4
for _ in 1 2; do measure node-http $np 18411; measure "neutrino W=$w" $tp 18412; done
