#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the tests need
# (packages, and a Rust toolchain when there is none), builds orc in the fast test
# profile, runs every test. Needs root (containerd, network namespaces): run as root,
# or as a user with sudo (the script then re-runs itself through sudo).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then exec sudo "$0" "$@"; fi
  echo "run as root: containerd and network namespaces need it" >&2
  exit 1
fi
cd "$(dirname "$0")/.."

. tests/apt-need.sh
apt_need containerd runc busybox-static protobuf-compiler iproute2 nftables keepalived debootstrap \
         curl ca-certificates gcc libc6-dev gcc-aarch64-linux-gnu qemu-user-static \
         docker-registry skopeo apache2-utils openssl ceph-mon ceph-mgr ceph-osd ceph-mds \
         ceph-common ceph-fuse rbd-fuse uuid-runtime e2fsprogs prometheus
rust_need
# containerd from Debian starts a system instance we don't use; the tests run their own.
# The Docker-API tests (tests/docker_api.rs) drive the real docker CLI (only its client:
# no Docker engine may start, so services stay stopped while docker.io installs) and
# docker-py from PyPI in a venv the test makes under target/.
apt_need python3 python3-venv
if ! command -v docker >/dev/null; then
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt_need docker.io
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  systemctl disable --now docker.service docker.socket 2>/dev/null || true
fi

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# The end-to-end tests drive the real binary.
cargo build -p orc --locked
results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo test --workspace --locked --no-fail-fast -- --test-threads 4 2>&1 | tee "$results"
# House rules: formatted, and clippy-clean with warnings as errors.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The board build: static aarch64 binary under its size budget, run under qemu, and
# the Armbian installer tested in a scratch root.
bash tests/cross.sh
# One closing line for the whole run (the cargo test totals; the board checks above
# fail the script on their own).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
