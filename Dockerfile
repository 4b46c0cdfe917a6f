# The minikn platform image: control plane, API and data path in one process; replicas run as
# sibling containers through the mounted Docker socket (see docker-compose.yml).
#
# minikn is installed from wheels built on the host, never from an index inside the build (a
# container may not be able to verify TLS to PyPI, and we do not turn verification off):
#
#   scripts/build-platform-image.sh                  # pip wheel + docker build, one step
#   # or by hand:
#   pip wheel . --wheel-dir build/wheels
#   docker build --build-arg BASE_IMAGE=python:3.11-slim -t minikn/platform .
#
# Offline, build on a local base image: BASE_IMAGE=minikn/base:bookworm
# (scripts/build-base-image.sh makes it). Any Debian/Ubuntu-like image with python3 >= 3.11 and
# the venv module works.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Extras to install besides the core, comma separated (e.g. "s3" for s3:// storageUris).
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/minikn/bin:$PATH \
    MINIKN_IN_DOCKER=1 \
    MINIKN_STATE_DIR=/state

COPY build/wheels/ /tmp/wheels/
RUN python3 -m venv /opt/minikn \
 && /opt/minikn/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
      "minikn${EXTRAS:+[$EXTRAS]}" \
 && rm -rf /tmp/wheels \
 && /opt/minikn/bin/minikn --help >/dev/null

WORKDIR /app
COPY config/ /app/config/
# The shipped config (runtimes, defaults) comes from /app/config, which compose mounts from ./config.
ENV MINIKN_CONFIG_DIR=/app/config

# 8080: the ingress (Host-routed inference); 8081: the API and /metrics.
EXPOSE 8080 8081
VOLUME ["/state"]
# The platform stops its replicas on SIGTERM before it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["minikn"]
# Binding the API beyond loopback needs MINIKN_API_TOKEN (compose sets one).
CMD ["serve", "--host", "0.0.0.0", "--api-host", "0.0.0.0", "--watch", "/isvcs", \
     "--state-dir", "/state", "--backend", "docker"]
