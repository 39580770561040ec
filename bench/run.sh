#!/usr/bin/env bash
# `npm run bench [-- OPTIONS]`: installs what the benchmark needs, builds, then runs bench/bench.py.
# Options (see bench/README.md): --quick, --only a,b,c, --workers 2,4, --duration S, --no-build, --help.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h|--help) exec python3 bench/bench.py --help ;;
  esac
done

# wrk, the load generator, from Debian's packages.
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bench: installing wrk with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "bench: wrk is missing; install it first: sudo apt-get install wrk" >&2
    exit 1
  fi
fi

# The Python peers, pinned in bench/requirements.txt, in the ignored bench/.venv.
venv=bench/.venv
if ! cmp -s bench/requirements.txt "$venv/.bench-requirements" 2>/dev/null; then
  echo "bench: installing the Python peers into $venv" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r bench/requirements.txt
  cp bench/requirements.txt "$venv/.bench-requirements"
fi

# Fastify, the Node peer: pinned here, into the ignored bench/.tmp/node_modules (not a dependency
# of Neutrino; bench/apps/fastify_server.mjs loads it from there).
fastify_version=5.12.8
fastify_pkg=bench/.tmp/node_modules/fastify/package.json
if ! grep -qs "\"version\": \"$fastify_version\"" "$fastify_pkg"; then
  echo "bench: installing fastify@$fastify_version into bench/.tmp/node_modules" >&2
  mkdir -p bench/.tmp
  npm install --prefix bench/.tmp --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "fastify@$fastify_version" >/dev/null
fi

# Neutrino itself, built from the working tree.
if [ "$build" = 1 ]; then
  [ -x node_modules/.bin/tsc ] || npm install --no-audit --no-fund
  npm run -s build
fi

exec python3 bench/bench.py "$@"
