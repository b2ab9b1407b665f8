#!/usr/bin/env bash
# Build the rag image with podman and smoke-test it, on a machine that reaches Debian's mirror and PyPI but
# no image registry (see "Container" in the README for what it does and what it measured).
#
#   bash deploy/smoke.sh            # all steps: setup base build run compose
#   bash deploy/smoke.sh build run  # some of them, in the order given
#   bash deploy/smoke.sh clean      # remove what it made
#
# Needs root (apt-get, debootstrap, rootful podman) and takes minutes: not run by CI or the test suite.
# Idempotent: the base image is made once (FORCE_BASE=1 makes it again), the image build reuses podman's
# layer cache (NO_CACHE=1 builds from scratch), and every step removes the containers, volumes and data dirs it made before it makes them.
# Big files stay in $SMOKE_DIR (default /tmp/rag-smoke): the root file system, the data dirs, the logs.
#
# Steps:
#   setup    install podman, runc, debootstrap and CNI's dnsname plugin from Debian and podman-compose from
#            PyPI (in $SMOKE_DIR/venv), and write a containers.conf for this kind of VM: runc (Debian's
#            crun 1.8 refuses the cgroup v1 + v2 "hybrid" mounts here), file events (no systemd), and
#            ulimits the runtime may set (root here lacks CAP_SYS_RESOURCE, so podman's defaults,
#            nofile=1048576 and nproc=4194304, fail in setrlimit)
#   base     localhost/bookworm-python:3.11, a stand-in for python:3.11-slim-bookworm: debootstrap's minbase
#            bookworm with the runtime libraries CPython needs, and a CPython 3.11 (>= 3.11.5, as
#            constraints.txt's soupsieve needs; Debian's own is 3.11.2) copied in to /usr/local as the
#            official image has it, from $PYTHON_HOME (default: pyenv's newest 3.11 on this machine)
#            without its site-packages, tests and static library, plus ensurepip's pip
#   build    the repository's Dockerfile with --build-arg BASE=localhost/bookworm-python:3.11 -> $IMAGE,
#            in Docker's image format (the OCI format has no HEALTHCHECK);
#            this machine's CA bundle is mounted over the image's during the build only (PyPI is reached
#            through an intercepting proxy), so it is not in the image
#   run      the image alone: `rag ingest` of corpus/ and then `rag serve` with --network none (nothing can
#            download), checks /healthz, /readyz, a cited answer from POST /api/ask, uid 10001 and the
#            time from `podman run` to ready; then the image's own CMD (0.0.0.0, RAG_AUTH=password) on
#            podman's bridge network, published on 127.0.0.1:$PORT: 401 without a key, an answer with one,
#            and the image's HEALTHCHECK
#   compose  deploy/compose.yaml under podman-compose with deploy/smoke.compose.yaml on top (it swaps
#            Docker Hub's postgres:15-bookworm for a local image of Debian's PostgreSQL 15, built here):
#            chroma + postgres + rag1 + rag2 up, every healthcheck, the ingest job, a grant, an API key, and
#            one question to each replica through its published port
#   clean    (not in "all") remove the smoke's containers, volumes, images and $SMOKE_DIR
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE_DIR=${SMOKE_DIR:-/tmp/rag-smoke}
BASE_IMAGE=${BASE_IMAGE:-localhost/bookworm-python:3.11}
IMAGE=${IMAGE:-localhost/rag:latest}
PG_IMAGE=${PG_IMAGE:-localhost/postgres-debian:15}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
PORT=${PORT:-17860}                 # the host port of the default-CMD run
ASK='{"question": "Who signed the Memorandum of Understanding between the UK and OpenAI?"}' 
export CONTAINERS_CONF=$SMOKE_DIR/containers.conf
mkdir -p "$SMOKE_DIR"

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'smoke: FAIL: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root (rootful podman, debootstrap)"

# in-container HTTP client: python in the image itself, so --network none containers can be probed
probe() {  # probe CONTAINER URL [JSON-BODY [BEARER]] -> "STATUS BODY"
  podman exec -i "$1" python - "$2" "${3:-}" "${4:-}" <<'EOF'
import sys, urllib.request, urllib.error
url, body, key = sys.argv[1:4]
req = urllib.request.Request(url, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json"})
if key:
    req.add_header("Authorization", "Bearer " + key)
try:
    with urllib.request.urlopen(req, timeout=60) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError as e:
    print(0, e)
EOF
}

wait_ready() {  # wait_ready CONTAINER URL SECONDS -> prints seconds waited
  local start=$(date +%s.%N) out
  while :; do
    out=$(probe "$1" "$2" 2>/dev/null || true)
    case $out in 200*) break ;; esac
    if (( $(date +%s) - ${start%.*} > $3 )); then podman logs --tail 30 "$1" >&2 || true; fail "$1: $2 not 200 after $3 s: $out"; fi
    sleep 0.5
  done
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)"
}

check_answer() {  # check_answer "STATUS BODY" -> the answer's first sentence and citation count
  python3 - "$1" <<'EOF'
import json, sys
status, _, body = sys.argv[1].partition(" ")
assert status == "200", sys.argv[1][:500]
a = json.loads(body)
cites = a.get("citations") or []
assert not a.get("refused") and cites, f"no cited answer: {body[:500]}"
print(f"answer: {a['answer'][:120]!r} ... {len(cites)} citation(s), first: {cites[0].get('source') or cites[0]}")
EOF
}

step_setup() {
  say "setup"
  local need=()
  for p in podman runc debootstrap golang-github-containernetworking-plugin-dnsname; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # podman-compose from PyPI: Debian's 1.0.3 knows no profiles (it would start the ingest job with the rest)
  [ -x "$SMOKE_DIR/venv/bin/podman-compose" ] || {
    python3 -m venv "$SMOKE_DIR/venv" && "$SMOKE_DIR/venv/bin/pip" install -q podman-compose; }
  local nofile nproc
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] && nofile=1048576
  # nproc: runc could not set this shell's own hard limit (96551) here either; 32768 goes through
  nproc=32768
  cat > "$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
events_logger = "file"
cgroup_manager = "cgroupfs"
EOF
  podman --version
  echo "CONTAINERS_CONF=$CONTAINERS_CONF:"; cat "$CONTAINERS_CONF"
}

find_python() {  # a CPython 3.11 >= 3.11.5 with a shared libpython, to copy into the base
  local c
  for c in ${PYTHON_HOME:-} $(ls -d /root/.pyenv/versions/3.11.* 2>/dev/null | sort -V -r) /usr/local; do
    [ -x "$c/bin/python3.11" ] && [ -e "$c/lib/libpython3.11.so.1.0" ] || continue
    "$c/bin/python3.11" -c 'import sys; sys.exit(sys.version_info < (3, 11, 5))' && { echo "$c"; return; }
  done
  fail "no CPython 3.11 (>= 3.11.5, shared libpython) found: set PYTHON_HOME"
}

step_base() {
  say "base image $BASE_IMAGE"
  if podman image exists "$BASE_IMAGE" && [ -z "${FORCE_BASE:-}" ]; then
    echo "exists (FORCE_BASE=1 to make it again)"; return
  fi
  local py rootfs=$SMOKE_DIR/rootfs t0=$(date +%s)
  py=$(find_python); echo "CPython from $py: $("$py/bin/python3.11" -V)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase \
    --include=ca-certificates,netbase,tzdata,libssl3,libsqlite3-0,libffi8,libreadline8,libncursesw6,libbz2-1.0,liblzma5,libexpat1,libuuid1,zlib1g \
    bookworm "$rootfs" "$MIRROR" > "$SMOKE_DIR/debootstrap.log"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/python3.11"
  cp -a "$py"/lib/libpython3.11.so* "$py/lib/libpython3.so" "$rootfs/usr/local/lib/"
  cp -a "$py/bin/python3.11" "$rootfs/usr/local/bin/"
  tar -C "$py/lib/python3.11" -c --exclude=./site-packages --exclude=./test --exclude='./config-3.11-*' \
      --exclude=./idlelib --exclude=./tkinter --exclude=./turtledemo --exclude=./lib2to3/tests \
      --exclude='__pycache__' . | tar -C "$rootfs/usr/local/lib/python3.11" -x
  mkdir -p "$rootfs/usr/local/lib/python3.11/site-packages"
  ln -sf python3.11 "$rootfs/usr/local/bin/python3"; ln -sf python3 "$rootfs/usr/local/bin/python"
  chroot "$rootfs" ldconfig
  chroot "$rootfs" /usr/local/bin/python3 -m ensurepip --default-pip > /dev/null
  ln -sf pip3 "$rootfs/usr/local/bin/pip"
  # pip trusts the system's CA store (the official image's pip uses its own certifi bundle; on this machine
  # the build mounts the machine's bundle over the system one)
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/pip.conf"
  find "$rootfs/usr/local" -name __pycache__ -prune -exec rm -rf {} +
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
         "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  tar --numeric-owner -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE_IMAGE" > /dev/null
  rm -rf "$rootfs"
  podman run --rm "$BASE_IMAGE" sh -c 'python -V; pip -V'
  echo "base made in $(( $(date +%s) - t0 )) s; $(podman image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
}

step_build() {
  say "build $IMAGE"
  local ca=() t0=$(date +%s)
  [ -f "$HOST_CA" ] && ca=(--volume "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro")
  podman build --format docker ${NO_CACHE:+--no-cache} --network host "${ca[@]}" --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" "$ROOT" \
    > "$SMOKE_DIR/build.log" 2>&1 || { tail -30 "$SMOKE_DIR/build.log"; fail "build (log: $SMOKE_DIR/build.log)"; }
  echo "built in $(( $(date +%s) - t0 )) s (log: $SMOKE_DIR/build.log)"
  podman image inspect -f 'size {{.Size}} bytes, user {{.Config.User}}, cmd {{.Config.Cmd}}' "$IMAGE"
  podman image ls "$IMAGE"
}

step_run() {
  say "run: ingest, then serve with --network none"
  local data=$SMOKE_DIR/data c=rag-smoke secs out key
  podman rm -f -i "$c" "$c-auth" > /dev/null
  rm -rf "$data"; mkdir -p "$data"; chown 10001:10001 "$data"
  podman run --health-interval disable --rm --network none -v "$data:/data" -v "$ROOT/corpus:/docs:ro" "$IMAGE" rag ingest /docs
  podman run --health-interval disable -d --name "$c" --network none -v "$data:/data" "$IMAGE" \
    rag serve --host 127.0.0.1 --port 7860 > /dev/null
  secs=$(wait_ready "$c" http://127.0.0.1:7860/readyz 180)
  echo "ready $secs s after podman run (/readyz 200, --network none)"
  echo "healthz: $(probe "$c" http://127.0.0.1:7860/healthz)"
  echo "readyz:  $(probe "$c" http://127.0.0.1:7860/readyz)"
  echo "uid in the container: $(podman exec "$c" id)"
  [ "$(podman exec "$c" id -u)" = 10001 ] || fail "not uid 10001"
  out=$(probe "$c" http://127.0.0.1:7860/api/ask "$ASK")
  check_answer "$out"
  podman rm -f "$c" > /dev/null

  say "run: the image's own CMD (0.0.0.0, RAG_AUTH=password) on podman's bridge, port 127.0.0.1:$PORT"
  key=$(podman run --health-interval disable --rm --network none -e RAG_AUTH=password -v "$data:/data" "$IMAGE" \
        rag keys create --collection default --label smoke 2>/dev/null)
  [ -n "$key" ] || fail "no key from rag keys create"
  podman run --health-interval disable -d --name "$c-auth" -p "127.0.0.1:$PORT:7860" -e RAG_AUTH=password -v "$data:/data" "$IMAGE" > /dev/null
  secs=$(wait_ready "$c-auth" http://127.0.0.1:7860/readyz 180)
  echo "ready $secs s after podman run (default CMD)"
  echo "from the host: /healthz $(curl -s http://127.0.0.1:$PORT/healthz), /readyz $(curl -s http://127.0.0.1:$PORT/readyz)"
  echo "ask without a key: HTTP $(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$ASK" http://127.0.0.1:$PORT/api/ask)"
  out="$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $key" -d "$ASK" http://127.0.0.1:$PORT/api/ask)"
  check_answer "${out##* } ${out% *}"
  podman healthcheck run "$c-auth" || fail "HEALTHCHECK"
  echo "HEALTHCHECK (python -c urlopen /healthz): healthy"
  podman rm -f "$c-auth" > /dev/null
}

step_pg_image() {
  podman image exists "$PG_IMAGE" && [ -z "${FORCE_BASE:-}" ] && return
  say "local PostgreSQL 15 image $PG_IMAGE (Debian's postgresql-15 on $BASE_IMAGE)"
  local ctx=$SMOKE_DIR/pg-context ca=()
  [ -f "$HOST_CA" ] && ca=(--volume "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro")
  rm -rf "$ctx"; mkdir -p "$ctx"
  cat > "$ctx/entrypoint.sh" <<'EOF'
#!/bin/sh
# the part of the official image's entrypoint that deploy/compose.yaml uses: POSTGRES_USER/_DB/_PASSWORD
set -e
PGDATA=/var/lib/postgresql/data; BIN=/usr/lib/postgresql/15/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s' "$POSTGRES_PASSWORD" > /tmp/pw
  $BIN/initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pw --auth-host=scram-sha-256 --auth-local=trust >/dev/null
  rm /tmp/pw
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  $BIN/pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  [ "$POSTGRES_DB" = postgres ] || $BIN/createdb -U "$POSTGRES_USER" "$POSTGRES_DB"
  $BIN/pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec $BIN/postgres -D "$PGDATA" -c listen_addresses='*'
EOF
  cat > "$ctx/Dockerfile" <<EOF
FROM $BASE_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH
COPY --chmod=755 entrypoint.sh /entrypoint.sh
USER postgres
CMD ["/entrypoint.sh"]
EOF
  podman build --network host "${ca[@]}" -t "$PG_IMAGE" "$ctx" > "$SMOKE_DIR/pg-build.log" 2>&1 \
    || { tail -20 "$SMOKE_DIR/pg-build.log"; fail "postgres image"; }
}

step_compose() {
  step_pg_image
  local pc=("$SMOKE_DIR/venv/bin/podman-compose" -p ragsmoke -f "$ROOT/deploy/compose.yaml" -f "$ROOT/deploy/smoke.compose.yaml")
  local t0 key out secs r name
  say "compose: chroma + postgres + rag1 + rag2 ($("${pc[@]}" version 2>/dev/null | head -1))"
  export RAG_DB_PASSWORD=smoke-$RANDOM$RANDOM RAG_SECURE_COOKIES=false PG_IMAGE BASE_IMAGE
  "${pc[@]}" down -v > /dev/null 2>&1 || true
  # podman 4.3 cannot wait for `condition: service_healthy` (podman-compose says so and starts the replicas
  # with PostgreSQL), and runs HEALTHCHECKs only from systemd timers, which this VM has not: they are run
  # by hand below
  t0=$(date +%s.%N)
  "${pc[@]}" up -d --no-build > "$SMOKE_DIR/compose-up.log" 2>&1 || { tail -20 "$SMOKE_DIR/compose-up.log"; fail "compose up"; }
  podman ps --filter label=io.podman.compose.project=ragsmoke --format '{{.Names}}  {{.Image}}  {{.Status}}  {{.Ports}}'
  for r in rag1 rag2; do
    name=$(podman ps --filter label=io.podman.compose.project=ragsmoke --filter "label=com.docker.compose.service=$r" --format '{{.Names}}' | head -1)
    [ -n "$name" ] || fail "no $r container"
    secs=$(wait_ready "$name" http://127.0.0.1:7860/readyz 240)
    echo "$r ($name): /readyz $(probe "$name" http://127.0.0.1:7860/readyz)"
  done
  for r in postgres chroma rag1 rag2; do
    name=$(podman ps --filter label=io.podman.compose.project=ragsmoke --filter "label=com.docker.compose.service=$r" --format '{{.Names}}' | head -1)
    podman healthcheck run "$name" || fail "$r's healthcheck"
    echo "$r ($name): healthcheck healthy, restarts $(podman inspect -f '{{.RestartCount}}' "$name")"
  done
  echo "compose up -d to both replicas ready: $(python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t0") s"
  echo "from the host: 7861 /readyz $(curl -s http://127.0.0.1:7861/readyz), 7862 /readyz $(curl -s http://127.0.0.1:7862/readyz)"
  # podman-compose, unlike docker compose, does not turn on the profile of the service it is asked to run
  RAG_DOCS=$ROOT/corpus "${pc[@]}" --profile jobs run --rm -T ingest 2>&1 | tail -2
  "${pc[@]}" run --rm -T rag1 rag access grant default --groups staff 2>&1 | tail -1
  key=$("${pc[@]}" run --rm -T rag1 rag keys create --collection default --label smoke 2>/dev/null | tr -d "\r" | grep -E "^rag_" | tail -1)
  [ -n "$key" ] || fail "no key from rag keys create"
  for r in 7861 7862; do
    out="$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $key" -d "$ASK" http://127.0.0.1:$r/api/ask)"
    printf 'port %s: ' "$r"; check_answer "${out##* } ${out% *}"
  done
  "${pc[@]}" down -v > /dev/null 2>&1
}

step_clean() {
  say "clean"
  [ -x "$SMOKE_DIR/venv/bin/podman-compose" ] && RAG_DB_PASSWORD=x "$SMOKE_DIR/venv/bin/podman-compose" -p ragsmoke \
    -f "$ROOT/deploy/compose.yaml" -f "$ROOT/deploy/smoke.compose.yaml" down -v > /dev/null 2>&1 || true
  podman rm -f -i rag-smoke rag-smoke-auth > /dev/null
  podman rmi -i "$IMAGE" "$PG_IMAGE" "$BASE_IMAGE" > /dev/null
  rm -rf "$SMOKE_DIR"
}

steps=("$@"); ((${#steps[@]})) || steps=(setup base build run compose)
for s in "${steps[@]}"; do
  [ "$s" = setup ] || [ -f "$CONTAINERS_CONF" ] || { [ "$s" = clean ] && unset CONTAINERS_CONF; } \
    || fail "no $CONTAINERS_CONF: run the setup step first"
  case $s in setup|base|build|run|compose|clean) "step_$s" ;; *) fail "unknown step $s" ;; esac
done
say "smoke: ok (${steps[*]})"
