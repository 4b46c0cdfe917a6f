#!/usr/bin/env bash
# Build a local Python base image with debootstrap, for machines that cannot pull from a registry.
# Usage: scripts/build-base-image.sh [IMAGE_NAME]   (default: minikn/base:bookworm)
# Users with a registry skip this and build on python:3.11-slim (the default base image).
set -euo pipefail
name="${1:-minikn/base:bookworm}"
if docker image inspect "$name" >/dev/null 2>&1; then
  echo "base image $name already present"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
echo "debootstrap bookworm into $dir (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$dir" >/dev/null
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
tar -C "$dir" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$name"
echo "built base image $name"
