#!/usr/bin/env bash
# A private Docker daemon for `make e2e-docker` on machines where none answers (sourced by docker/e2e.sh).
#
# It runs as root with no bridge and no iptables rules (containers use the host's network), keeps its
# images in $DOCKER_CACHE/data between runs (the build cache), and listens only on the Unix socket
# $DOCKER_CACHE/run/docker.sock. stop_private_daemon stops it by its pid and unmounts what it mounted.

DOCKER_CACHE=${TIDEWATER_DOCKER_CACHE:-$HOME/.cache/tidewater-docker}
DAEMON_RUN=$DOCKER_CACHE/run   # exec-root: short, the socket paths under it must stay below 108 bytes
DAEMON_PIDFILE=$DAEMON_RUN/dockerd.pid
DAEMON_SOCKET=$DAEMON_RUN/docker.sock

# Why this machine cannot have a private daemon (empty output: it can).
why_no_private_daemon() {
  if [[ $(uname -s) != Linux ]]; then
    echo "no Docker daemon answers, and one can be started here only on Linux: start Docker (Docker Desktop)"
  elif [[ $(id -u) != 0 ]]; then
    echo "no Docker daemon answers, and starting one needs root: start Docker (sudo systemctl start docker)"
  elif ! command -v dockerd >/dev/null && ! command -v apt-get >/dev/null; then
    echo "no Docker daemon answers, dockerd is not installed and there is no apt-get to install it"
  fi
}

# Our daemon from an earlier run that was killed: its pid, if it still runs with our data root.
our_stale_daemon() {
  local pid
  pid=$(cat "$DAEMON_PIDFILE" 2>/dev/null) || return 1
  [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-root $DOCKER_CACHE/data" \
    && echo "$pid"
}

unmount_daemon_mounts() {
  # dockerd bind-mounts its data root and its network namespace file (<exec-root>/netns/default); a
  # daemon that was killed also leaves its containers' overlay mounts. Deepest first.
  local mount_point
  for mount_point in $(awk -v root="$DOCKER_CACHE/" 'index($2, root) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$mount_point" 2>/dev/null || umount -l "$mount_point"
  done
}

start_private_daemon() {
  local stale started=$SECONDS
  command -v dockerd >/dev/null || apt_install docker.io
  command -v docker >/dev/null || apt_install docker.io
  mkdir -p "$DOCKER_CACHE/data" "$DAEMON_RUN"
  if stale=$(our_stale_daemon); then
    say "stopping our Docker daemon left by an earlier run (pid $stale)"
    stop_private_daemon
  fi
  unmount_daemon_mounts
  rm -f "$DAEMON_SOCKET" "$DAEMON_PIDFILE"
  # setsid: its own session, so a Ctrl-C in the terminal reaches us (and our trap), not the daemon.
  # {LOCK_FD}>&-: it must not inherit docker/e2e.sh's lock, or a daemon left by a killed run would
  # hold it and the next run would wait for ever instead of stopping that daemon.
  setsid dockerd --bridge=none --iptables=false --ip6tables=false \
    --data-root "$DOCKER_CACHE/data" --exec-root "$DAEMON_RUN" --pidfile "$DAEMON_PIDFILE" \
    -H "unix://$DAEMON_SOCKET" >"$DOCKER_CACHE/dockerd.log" 2>&1 </dev/null {LOCK_FD}>&- &
  export DOCKER_HOST=unix://$DAEMON_SOCKET
  until docker info >/dev/null 2>&1; do
    if ((SECONDS - started > 30)); then
      tail -n 20 "$DOCKER_CACHE/dockerd.log" >&2
      echo "the private Docker daemon did not answer within 30 s (log above: $DOCKER_CACHE/dockerd.log)" >&2
      return 1
    fi
    sleep 0.1
  done
  say "private Docker daemon (pid $(cat "$DAEMON_PIDFILE"), $(docker info --format '{{.ServerVersion}}')) ready in $((SECONDS - started)) s on $DOCKER_HOST"
}

stop_private_daemon() {
  local pid waited=0
  pid=$(our_stale_daemon) || { unmount_daemon_mounts; return 0; }
  kill -TERM "$pid"
  # Until it is gone (a zombie child of ours has no command line any more, so it counts as gone).
  while our_stale_daemon >/dev/null; do
    if ((waited++ == 300)); then kill -KILL "$pid"; fi
    sleep 0.1
  done
  unmount_daemon_mounts
  rm -f "$DAEMON_SOCKET" "$DAEMON_PIDFILE"
  say "stopped the private Docker daemon (pid $pid)"
}
