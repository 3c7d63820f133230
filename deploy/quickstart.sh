#!/usr/bin/env bash
# One-node orc demo on a fresh Debian machine. Everything lives under ./.orc-demo (its
# own containerd too), so nothing on the machine is reconfigured beyond what a running
# orc node needs (the orc0 bridge, table ip orc), and `stop` removes that too.
#   ./deploy/quickstart.sh        build, start, deploy examples/hello
#   ./deploy/quickstart.sh stop   stop and remove everything it started, whatever was
#                                 deployed meanwhile
# Needs root (containerd, network namespaces): run as root, or as a user with sudo
# (the script then re-runs itself through sudo).
# For tests and development: ORC_DEMO_DIR (default ./.orc-demo) and ORC_BINARY (an orc
# binary to use instead of installing the toolchain and building one).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then
    env=()
    for v in ORC_DEMO_DIR ORC_BINARY; do [ -n "${!v:-}" ] && env+=("$v=${!v}"); done
    exec sudo "${env[@]}" "$0" "$@"
  fi
  echo "run as root: containerd and network namespaces need it" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
top=$PWD
demo=${ORC_DEMO_DIR:-$top/.orc-demo}
sock=$demo/orc.sock
csock=$demo/containerd.sock
export ORC_SOCKET=$sock

# Processes whose executable is the demo's orc (the daemon, `orc __logger` of each
# container), or whose command line names the demo's containerd socket (its shims).
demo_pids() {
  local p exe cmd
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    case "$exe" in "$demo/orc"|"$demo/orc (deleted)") echo "${p#/proc/}"; continue ;; esac
    case "$cmd" in *"-address $csock "*) echo "${p#/proc/}" ;; esac
  done
}

# Waits up to 10 s for the processes `pids` to end.
wait_gone() {
  local _ p alive
  for _ in $(seq 100); do
    alive=0
    for p in "$@"; do [ -d "/proc/$p" ] && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
}

stop() {
  [ -d "$demo" ] || { echo "nothing to stop: $demo does not exist"; return 0; }
  # The daemon removes what it made: every stack's containers and their loggers, then
  # its networking (bridge, veths, routes, table ip orc, namespaces), and says what.
  if [ -S "$sock" ] && "$demo/orc" version >/dev/null 2>&1; then
    "$demo/orc" cluster leave --force || echo "orc cluster leave failed; removing by hand"
  fi
  if [ -f "$demo/orc.pid" ]; then
    pid=$(cat "$demo/orc.pid")
    kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
  fi
  # What a daemon that was not running could not remove: its containers, through
  # containerd (killing a shim would leave its container running).
  if [ -S "$csock" ]; then
    for t in $(ctr --address "$csock" -n orc tasks ls -q 2>/dev/null); do
      ctr --address "$csock" -n orc tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
      ctr --address "$csock" -n orc tasks rm -f "$t" >/dev/null 2>&1 || true
    done
  fi
  # shellcheck disable=SC2046
  kill -9 $(demo_pids) 2>/dev/null || true
  if [ -f "$demo/containerd.pid" ]; then
    pid=$(cat "$demo/containerd.pid")
    kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
  fi
  # shellcheck disable=SC2046
  kill -9 $(demo_pids) 2>/dev/null || true
  # orc's networking, if the daemon could not remove it (the demo is the machine's
  # only orc node).
  ip link del orc0 2>/dev/null && echo "removed bridge orc0"
  ip link del orcvx 2>/dev/null && echo "removed VXLAN device orcvx"
  ip route flush proto 79 2>/dev/null || true
  if nft delete table ip orc 2>/dev/null; then
    echo "removed nftables table ip orc"
    # orc turns route_localnet on while it publishes ports.
    echo 0 >/proc/sys/net/ipv4/conf/all/route_localnet
  fi
  { grep -o " $demo/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$demo"
  echo "stopped and removed $demo"
}
[ "${1:-}" = stop ] && { stop; exit 0; }

if [ -n "${ORC_BINARY:-}" ]; then
  mkdir -p "$demo"
  cp "$ORC_BINARY" "$demo/orc"
else
  need=()
  for pkg in containerd runc busybox-static protobuf-compiler curl ca-certificates gcc python3 nftables iproute2; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
  if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH=$HOME/.cargo/bin:$PATH
  fi
  echo "building orc (release)…"
  cargo build --release -p orc -q
  mkdir -p "$demo"
  cp target/release/orc "$demo/orc"
fi

if ! [ -S "$csock" ]; then
  cat > "$demo/containerd.toml" <<TOML
version = 2
root = "$demo/containerd/root"
state = "$demo/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$csock"
TOML
  containerd --config "$demo/containerd.toml" >"$demo/containerd.log" 2>&1 &
  echo $! > "$demo/containerd.pid"
  for _ in $(seq 100); do [ -S "$csock" ] && break; sleep 0.1; done
fi
if ! [ -S "$sock" ]; then
  "$demo/orc" daemon --data-dir "$demo/data" --containerd "$csock" \
    --listen 127.0.0.1:4747 >"$demo/orc.log" 2>&1 &
  echo $! > "$demo/orc.pid"
fi
for _ in $(seq 100); do [ -S "$sock" ] && "$demo/orc" version >/dev/null 2>&1 && break; sleep 0.1; done
"$demo/orc" cluster info --json | grep -q '"cluster_id": "' || "$demo/orc" cluster init --advertise 127.0.0.1:4747
images/build-busybox.sh "$demo/busybox.oci.tar" --name demo/busybox:1 >/dev/null
"$demo/orc" image load "$demo/busybox.oci.tar"
"$demo/orc" stack deploy examples/hello/stack.toml
"$demo/orc" service ps hello_web
cat <<MSG

orc is running (logs: $demo/orc.log). Try:
  curl http://127.0.0.1:8080/
  export ORC_SOCKET=$sock; $demo/orc service ls
  $demo/orc service scale hello_web=3
  ./deploy/quickstart.sh stop
MSG
