#!/usr/bin/env bash
# Build the minikn platform image (the `minikn` service of docker-compose.yml).
#
# Usage: scripts/build-platform-image.sh [--wheels-only] [IMAGE]     (default: minikn/platform:latest)
#   BASE_IMAGE   base of the image (default python:3.11-slim; offline: minikn/base:bookworm)
#   EXTRAS       minikn extras to install too, comma separated (e.g. s3)
#   PYTHON       the host Python that builds the wheels (default: .venv/bin/python, else python3)
#
# The wheels are built here, on the host, into build/wheels: the image build then installs from
# them with --no-index, so it needs no network (a container may not verify TLS to PyPI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

wheels_only=0
if [[ "${1:-}" == "--wheels-only" ]]; then
  wheels_only=1
  shift
fi
image="${1:-minikn/platform:latest}"
base="${BASE_IMAGE:-${MINIKN_BASE_IMAGE:-python:3.11-slim}}"
extras="${EXTRAS:-}"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi

target="."
[[ -n "$extras" ]] && target=".[${extras}]"
echo "building wheels for ${target} into build/wheels"
rm -f build/wheels/minikn-*.whl  # never ship a stale minikn wheel of the same version
"$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir build/wheels "$target"

if ((wheels_only)); then
  exit 0
fi
echo "building ${image} on ${base}"
docker build --build-arg "BASE_IMAGE=${base}" --build-arg "EXTRAS=${extras}" -t "$image" .
echo "built ${image}"
