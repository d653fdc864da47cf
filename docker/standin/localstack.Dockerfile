# Stand-in for localstack/localstack:4.14.0, built only where the official image cannot be pulled
# (no registry). It keeps the parts of the official image's layout that tidewater relies on:
# LocalStack 4.14.0 in /opt/code/localstack/.venv, python3.13 and curl on PATH, /var/lib/localstack,
# and an entrypoint that starts LocalStack. docker/localstack/Dockerfile builds on either.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv curl \
 && rm -rf /var/lib/apt/lists/*

# LocalStack's own pins as constraints: without them its dependencies do not resolve.
COPY requirements/localstack.txt requirements/localstack-constraints.txt /opt/code/requirements/
RUN python3.13 -m venv /opt/code/localstack/.venv \
 && /opt/code/localstack/.venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      -r /opt/code/requirements/localstack.txt -c /opt/code/requirements/localstack-constraints.txt \
 && mkdir -p /var/lib/localstack /tmp/localstack

COPY docker/standin/localstack-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /opt/code/localstack
VOLUME /var/lib/localstack
ENTRYPOINT ["docker-entrypoint.sh"]
