#!/usr/bin/env bash
# Install (when missing) and start a Docker engine, then wait until it answers.
# Used by .ci/run and by developers on a fresh Debian machine. Needs root.
set -euo pipefail
if ! command -v dockerd >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
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
