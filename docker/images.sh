#!/usr/bin/env bash
# Images for the container path where no registry can be reached (sourced by docker/e2e.sh).
#
#   ensure_compose         Compose v2 (+ buildx) when `docker compose` is missing: the binaries of
#                          Debian trixie's packages, into $DOCKER_CONFIG/cli-plugins
#   ensure_service_images  TIDEWATER_LOCALSTACK_IMAGE / TIDEWATER_POSTGRES_IMAGE: the official
#                          images when they are here or can be pulled, otherwise local stand-ins
#                          (docker/standin/) built on a debootstrapped Debian trixie base
#
# Everything is cached in the Docker daemon: a second run only checks that the images exist and
# lets `docker build` find every layer in its cache.

OFFICIAL_LOCALSTACK_IMAGE=localstack/localstack:4.14.0
OFFICIAL_POSTGRES_IMAGE=postgres:16
BASE_IMAGE=tidewater-standin/debian:trixie
STANDIN_LOCALSTACK_IMAGE=tidewater-standin/localstack:4.14.0
STANDIN_POSTGRES_IMAGE=tidewater-standin/postgres:17

say() { echo "==> $*" >&2; }

# The Debian mirror apt uses on this machine (debootstrap and the images' apt use it too).
debian_mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1)
  [[ -n $uri ]] || uri=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}

# A minimal Debian trixie (Python 3.13, PostgreSQL 17) with this machine's extra CA certificates,
# so apt and pip inside the images trust what the host trusts.
ensure_base_image() {
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  command -v debootstrap >/dev/null || apt_install debootstrap
  local rootfs started=$SECONDS
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/tidewater-rootfs.XXXXXX")
  say "building $BASE_IMAGE with debootstrap from $(debian_mirror) (first run only, ~30 s)"
  if ! debootstrap --variant=minbase --include=ca-certificates trixie "$rootfs" "$(debian_mirror)" >"$rootfs.log" 2>&1; then
    tail -n 20 "$rootfs.log" >&2
    rm -rf "$rootfs" "$rootfs.log"
    echo "debootstrap of Debian trixie failed (log above)" >&2
    return 1
  fi
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$rootfs" update-ca-certificates >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  say "$BASE_IMAGE built in $((SECONDS - started)) s"
}

apt_install() {
  say "apt-get install $*"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_compose() {
  docker compose version >/dev/null 2>&1 && return 0
  local plugins=${DOCKER_CONFIG:?DOCKER_CONFIG must be set}/cli-plugins
  if [[ ! -x $plugins/docker-compose || ! -x $plugins/docker-buildx ]]; then
    ensure_base_image
    say "installing Compose v2 and buildx from Debian trixie's packages into $plugins"
    mkdir -p "$plugins"
    docker run --rm --network host -v "$plugins:/out" "$BASE_IMAGE" sh -ec '
      apt-get update -qq
      cd /tmp && apt-get download -qq docker-compose docker-buildx
      for deb in *.deb; do dpkg-deb -x "$deb" /tmp/x; done
      cp /tmp/x/usr/libexec/docker/cli-plugins/docker-compose /tmp/x/usr/libexec/docker/cli-plugins/docker-buildx /out/'
  fi
  docker compose version >/dev/null || { echo "docker compose does not run from $plugins" >&2; return 1; }
}

# Pull an official image unless it is here already; false when it cannot be had.
have_image() {
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  say "pulling $1"
  local error
  if error=$(timeout 300 docker pull -q "$1" 2>&1 >/dev/null); then
    return 0
  fi
  say "cannot pull $1: $(printf '%s\n' "$error" | tail -n1)"
  return 1
}

build_standin() {
  local name=$1 tag=$2 started=$SECONDS
  ensure_base_image
  say "building the stand-in $tag (docker/standin/$name.Dockerfile)"
  docker build --network host -q -t "$tag" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -f "docker/standin/$name.Dockerfile" . >/dev/null
  say "$tag ready in $((SECONDS - started)) s"
}

# choose_image SETTING OFFICIAL NAME STAND_IN: the setting as given, else the official image when it can
# be had, else the stand-in built from docker/standin/NAME.Dockerfile.
choose_image() {
  local setting=$1 official=$2 name=$3 standin=$4
  [[ -n ${!setting:-} ]] && return 0
  if have_image "$official"; then
    printf -v "$setting" %s "$official"
  else
    build_standin "$name" "$standin"
    printf -v "$setting" %s "$standin"
  fi
}

# Exports TIDEWATER_LOCALSTACK_IMAGE and TIDEWATER_POSTGRES_IMAGE.
ensure_service_images() {
  choose_image TIDEWATER_LOCALSTACK_IMAGE "$OFFICIAL_LOCALSTACK_IMAGE" localstack "$STANDIN_LOCALSTACK_IMAGE"
  choose_image TIDEWATER_POSTGRES_IMAGE "$OFFICIAL_POSTGRES_IMAGE" postgres "$STANDIN_POSTGRES_IMAGE"
  export TIDEWATER_LOCALSTACK_IMAGE TIDEWATER_POSTGRES_IMAGE
  say "images: LocalStack $TIDEWATER_LOCALSTACK_IMAGE, PostgreSQL $TIDEWATER_POSTGRES_IMAGE"
}
