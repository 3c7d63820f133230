#!/usr/bin/env bash
# One-node orc demo on a fresh Debian machine, as root. Everything lives under ./.orc-demo
# (its own containerd too), so nothing on the machine is reconfigured.
#   ./deploy/quickstart.sh        build, start, deploy examples/hello
#   ./deploy/quickstart.sh stop   stop and remove everything it started
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
demo=$top/.orc-demo
sock=$demo/orc.sock
export ORC_SOCKET=$sock

stop() {
  [ -f "$demo/orc.pid" ] && { "$demo/orc" stack rm hello >/dev/null 2>&1 || true; kill "$(cat "$demo/orc.pid")" 2>/dev/null || true; }
  if [ -f "$demo/containerd.pid" ]; then
    pkill -f "containerd-shim-runc-v2 -namespace orc -address $demo/containerd.sock" 2>/dev/null || true
    kill "$(cat "$demo/containerd.pid")" 2>/dev/null || true
  fi
  sleep 1
  { grep -o " $demo/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
  rm -rf "$demo"
  echo "stopped and removed $demo"
}
[ "${1:-}" = stop ] && { stop; exit 0; }

[ "$(id -u)" = 0 ] || { echo "run as root (containerd needs it)"; exit 1; }
need=()
for pkg in containerd runc busybox-static protobuf-compiler curl ca-certificates gcc python3; do
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

if ! [ -S "$demo/containerd.sock" ]; then
  cat > "$demo/containerd.toml" <<TOML
version = 2
root = "$demo/containerd/root"
state = "$demo/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$demo/containerd.sock"
TOML
  containerd --config "$demo/containerd.toml" >"$demo/containerd.log" 2>&1 &
  echo $! > "$demo/containerd.pid"
fi
if ! [ -S "$sock" ]; then
  "$demo/orc" daemon --data-dir "$demo/data" --containerd "$demo/containerd.sock" \
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
  ./deploy/quickstart.sh stop
MSG
