#!/usr/bin/env bash
# Install (when missing) and start a Docker engine, then wait until it answers; install
# docker-compose too when neither `docker compose` nor `docker-compose` works (the compose test
# and `make compose-up` need one). For a fresh Debian machine, as root; the README's setup step.
set -euo pipefail
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
if ! docker compose version >/dev/null 2>&1 && ! docker-compose version >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  nohup dockerd >/tmp/minikn-dockerd.log 2>&1 &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
docker info --format 'docker engine {{.ServerVersion}} ready' || {
  echo "docker engine did not start; see /tmp/minikn-dockerd.log" >&2
  tail -20 /tmp/minikn-dockerd.log >&2 || true
  exit 1
}
