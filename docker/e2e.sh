#!/usr/bin/env bash
# make e2e-docker: the container path for real, on this machine.
#
#   1. a Docker daemon: the one that answers, or a private one started here (docker/daemon.sh);
#   2. Compose v2 and the images: official ones when they can be had, stand-ins otherwise (docker/images.sh);
#   3. the compose backend: `tidewater up --backend compose`, `tidewater deploy`, the e2e selection
#      through it (TIDEWATER_TEST_STACK=external), `tidewater down`;
#   4. the testcontainers fixture (TIDEWATER_TEST_STACK=docker) with the same selection.
# Everything it started is stopped again, even when a step fails: containers, volumes, the daemon
# and its mounts. `docker/e2e.sh --or-skip` (what `make test` runs) skips with the reason when no
# daemon answers and none can be started here.
set -euo pipefail
cd "$(dirname "$0")/.."
source docker/images.sh
source docker/daemon.sh

# Lean but real: upload -> processing, bad inputs -> quarantine, Postgres outage -> DLQ -> replay,
# the daily report, and a plan that shows no changes after the deploy.
SELECTION=(
  "tests/e2e/test_housing_pipeline.py::test_housing_upload_loads_rows_summary_parquet_and_ledger"
  "tests/e2e/test_bad_inputs.py"
  "tests/e2e/test_failures_and_replay.py::test_outage_dead_letters_then_replay_loads_every_file_exactly_once"
  "tests/e2e/test_report.py::test_report_for_today_matches_the_ledger_and_tables"
  "tests/e2e/test_stack_lifecycle.py::test_terraform_plan_right_after_deploy_shows_no_changes"
)
PY=.venv/bin/python
TIDEWATER=.venv/bin/tidewater
COMPOSE_STATE=$PWD/.tidewater/e2e-compose
LOGS=$PWD/.tidewater/e2e-docker-logs  # the long outputs (image builds, terraform apply)
OWN_DAEMON=  # set when this run starts the daemon: then everything in it is ours
COMPOSE_UP=
TIMINGS=()
started_all=$SECONDS

timed() {  # timed "what" command...: run it and note how long it took
  local what=$1 started=$SECONDS
  shift
  "$@"
  TIMINGS+=("$(printf '%-34s %4d s' "$what" $((SECONDS - started)))")
}

logged() {  # logged NAME command...: its output into $LOGS/NAME.log, shown (the end) only when it fails
  local name=$1 status=0
  shift
  mkdir -p "$LOGS"
  "$@" >"$LOGS/$name.log" 2>&1 || status=$?
  if ((status)); then
    tail -n 60 "$LOGS/$name.log" >&2
    echo "$name failed (exit $status); the whole output: $LOGS/$name.log" >&2
    return $status
  fi
}

remove_all_containers_and_volumes() {
  docker rm -f -v $(docker ps -aq) >/dev/null 2>&1
  docker volume prune -f >/dev/null 2>&1
}

leftovers() {  # what of ours is still in the daemon
  if [[ -n $OWN_DAEMON ]]; then
    docker ps -aq
    docker volume ls -q
  else
    docker ps -aq --filter "label=com.docker.compose.project=$(compose_project)"
    docker ps -aq --filter "label=org.testcontainers=true"
  fi
}

compose_project() {
  TIDEWATER_STATE_DIR=$COMPOSE_STATE $PY -c \
    'from tidewater.stack.compose import ComposeStack; from tidewater.stack.env import state_dir; print(ComposeStack(state_dir()).project)'
}

cleanup() {
  local status=$?
  set +e
  if [[ -n $COMPOSE_UP ]]; then
    TIDEWATER_STATE_DIR=$COMPOSE_STATE $TIDEWATER down >/dev/null 2>&1 || say "tidewater down failed"
  fi
  if docker info >/dev/null 2>&1; then
    local left
    left=$(leftovers)
    if [[ -n $left ]]; then
      say "FAILED: left behind by this run (removing them now): $(echo $left)"
      [[ $status == 0 ]] && status=1
      [[ -z $OWN_DAEMON ]] || remove_all_containers_and_volumes
    fi
  fi
  if [[ -n $OWN_DAEMON ]]; then
    # A rebuilt LocalStack image leaves its predecessor untagged; the cache keeps only what is in use.
    docker image prune -f >/dev/null 2>&1
    stop_private_daemon
  fi
  if ((${#TIMINGS[@]})); then
    say "make e2e-docker timings:"
    printf '      %s\n' "${TIMINGS[@]}" "$(printf '%-34s %4d s' total $((SECONDS - started_all)))" >&2
  fi
  exit $status
}

main() {
  local why
  if ! docker info >/dev/null 2>&1; then
    why=$(why_no_private_daemon)
    if [[ -n $why ]]; then
      if [[ ${1:-} == --or-skip ]]; then
        say "SKIPPED make e2e-docker: $why"
        exit 0
      fi
      echo "make e2e-docker: $why" >&2
      exit 1
    fi
    mkdir -p "$DOCKER_CACHE"
    # One run at a time per cache: its daemon owns the data root.
    exec {LOCK_FD}>"$DOCKER_CACHE/lock"
    flock -n "$LOCK_FD" || { say "waiting for another make e2e-docker that uses $DOCKER_CACHE"; flock "$LOCK_FD"; }
    trap cleanup EXIT
    OWN_DAEMON=yes
    timed "daemon start" start_private_daemon
    if [[ -n $(leftovers) ]]; then  # a run that was killed before its cleanup
      say "removing containers and volumes an earlier, interrupted run left: $(echo $(leftovers))"
      remove_all_containers_and_volumes
    fi
    # testcontainers' reaper image comes from a registry too; the fixture removes its containers itself.
    export TESTCONTAINERS_RYUK_DISABLED=true
  else
    trap cleanup EXIT
  fi
  if ! docker compose version >/dev/null 2>&1; then
    export DOCKER_CONFIG=$DOCKER_CACHE/config
  fi
  timed "Compose v2" ensure_compose
  timed "images (official or stand-ins)" ensure_service_images

  say "1/2 the compose backend (state $COMPOSE_STATE)"
  export TIDEWATER_EMULATOR_PORT TIDEWATER_POSTGRES_PORT
  TIDEWATER_EMULATOR_PORT=$($PY -c 'from tidewater.stack.compose import free_low_port; print(free_low_port())')
  TIDEWATER_POSTGRES_PORT=$($PY -c 'from tidewater.stack.compose import free_low_port; print(free_low_port())')
  COMPOSE_UP=yes
  timed "compose: up (image build included)" logged compose-up \
    env TIDEWATER_STATE_DIR="$COMPOSE_STATE" $TIDEWATER up --backend compose
  timed "compose: deploy" logged compose-deploy env TIDEWATER_STATE_DIR="$COMPOSE_STATE" $TIDEWATER deploy \
    --var-file tests/stack.tfvars
  timed "compose: e2e selection" env TIDEWATER_STATE_DIR="$COMPOSE_STATE" TIDEWATER_TEST_STACK=external \
    $PY -m pytest -q "${SELECTION[@]}"
  timed "compose: down" logged compose-down env TIDEWATER_STATE_DIR="$COMPOSE_STATE" $TIDEWATER down
  COMPOSE_UP=
  unset TIDEWATER_EMULATOR_PORT TIDEWATER_POSTGRES_PORT

  say "2/2 the testcontainers fixture"
  timed "testcontainers: up, deploy, e2e" env TIDEWATER_TEST_STACK=docker $PY -m pytest -q --durations=3 "${SELECTION[@]}"
}

main "$@"
