#!/usr/bin/env bash
# Tests deploy/armbian/install.sh as far as a machine without systemd as PID 1 allows:
# installs into scratch roots (--root), checks every file, mode and setting, that a
# second run changes nothing, upgrades, local settings kept, a foreign containerd
# config backed up once, bad input refused; then checks the unit with
# `systemd-analyze verify` inside the root, and starts the real containerd on the
# generated config (private root, state and socket).
#
#   bash tests/armbian_install.sh        (as root; run by tests/cross.sh)
# Environment: ORC_INSTALL_TEST_BINARY=PATH  the orc to install (default target/debug/orc,
#              built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
install_sh=$repo/deploy/armbian/install.sh

failures=0
pass() { echo "PASS: install: $*"; }
fail() { echo "FAIL: install: $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

scratch=$(mktemp -d /tmp/orc-install-test.XXXXXX)
ctd_pid=""
cleanup() {
  if [ -n "$ctd_pid" ]; then
    kill "$ctd_pid" 2>/dev/null || true
    wait "$ctd_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# systemd-analyze (package systemd) works without systemd as PID 1; containerd and ctr
# load the generated config; dpkg-deb builds the package.
. tests/apt-need.sh
apt_need systemd containerd dpkg

bin=${ORC_INSTALL_TEST_BINARY:-target/debug/orc}
if [ ! -x "$bin" ]; then
  echo "building $bin"
  CARGO_TERM_COLOR=never cargo build -p orc --locked
fi
[ -x "$bin" ] || { fail "no orc binary at $bin"; exit 1; }

# run ROOT ARGS...: the installer into ROOT, its output in $scratch/last.log.
run() {
  local r=$1
  shift
  bash "$install_sh" --root "$r" "$@" >"$scratch/last.log" 2>&1
}
not() { ! "$@"; }
run_quiet() { bash "$install_sh" "$@" >/dev/null 2>&1; }
mode_is() { [ "$(stat -c %a "$1")" = "$2" ]; }
has_line() { grep -qxF -- "$2" "$1"; }
# state ROOT: every path with its type, mode and content hash, for idempotency checks.
state() {
  (cd "$1" && find . -printf '%y %m %p\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

# --- a first install, cgroup v1 board with br_netfilter --------------------------------
r1=$scratch/root1
mkdir -p "$r1"
check "first run succeeds" run "$r1" --no-systemd --binary "$bin" --cgroup v1 --br-netfilter yes
cat "$scratch/last.log"

check "binary installed, identical" cmp -s "$bin" "$r1/usr/local/bin/orc"
check "binary mode 0755" mode_is "$r1/usr/local/bin/orc" 755
check "installed binary runs (--version)" bash -c "'$r1/usr/local/bin/orc' --version | grep -q '^orc '"

unit=$r1/etc/systemd/system/orc.service
check "unit is deploy/armbian/orc.service" cmp -s deploy/armbian/orc.service "$unit"
check "unit mode 0644" mode_is "$unit" 644
# shellcheck disable=SC2016 # $ORC_DAEMON_ARGS is literal text in the unit
for line in \
  'ExecStart=/usr/local/bin/orc daemon --data-dir /var/lib/orc $ORC_DAEMON_ARGS' \
  'Requires=containerd.service' 'Restart=always' 'KillMode=process' \
  'StandardOutput=journal' 'StandardError=journal' 'LimitNOFILE=1048576' \
  'WantedBy=multi-user.target'; do
  check "unit has '$line'" has_line "$unit" "$line"
done
check "unit orders after containerd" grep -qE '^After=.*\bcontainerd\.service\b' "$unit"

sysctl_conf=$r1/etc/sysctl.d/90-orc.conf
check "sysctl file mode 0644" mode_is "$sysctl_conf" 644
for line in 'net.ipv4.ip_forward = 1' 'net.bridge.bridge-nf-call-iptables = 1' \
  'fs.inotify.max_user_instances = 1024' 'fs.inotify.max_user_watches = 524288'; do
  check "sysctl has '$line'" has_line "$sysctl_conf" "$line"
done
# Every key must exist in this kernel (catches typos); read-only, nothing is changed.
while read -r key _; do
  case "$key" in "" | "#"*) continue ;; esac
  if [[ $key == net.bridge.* ]] && [ ! -d /proc/sys/net/bridge ]; then continue; fi
  check "sysctl key $key exists in the kernel" test -e "/proc/sys/${key//.//}"
done <"$sysctl_conf"
check "modules-load has overlay" has_line "$r1/etc/modules-load.d/orc.conf" overlay
check "modules-load has br_netfilter" has_line "$r1/etc/modules-load.d/orc.conf" br_netfilter

ctd=$r1/etc/containerd/config.toml
check "containerd config mode 0644" mode_is "$ctd" 644
for line in 'version = 2' 'disabled_plugins = ["io.containerd.grpc.v1.cri"]' \
  '  snapshotter = "overlayfs"' '  SystemdCgroup = false' \
  '  address = "/run/containerd/containerd.sock"'; do
  check "containerd config has '$line'" has_line "$ctd" "$line"
done
check "/etc/default/orc written, 0644" mode_is "$r1/etc/default/orc" 644
check "/etc/default/orc sets ORC_DAEMON_ARGS" grep -q '^ORC_DAEMON_ARGS=' "$r1/etc/default/orc"
check "data dir /var/lib/orc is 0700" mode_is "$r1/var/lib/orc" 700
check "--no-systemd enabled nothing" test ! -e "$r1/etc/systemd/system/multi-user.target.wants"

# --- idempotent ------------------------------------------------------------------------
state "$r1" >"$scratch/before"
check "second run succeeds" run "$r1" --no-systemd --binary "$bin" --cgroup v1 --br-netfilter yes
check "second run reports no writes" not grep -q 'wrote' "$scratch/last.log"
state "$r1" >"$scratch/after"
check "second run leaves the tree identical" cmp -s "$scratch/before" "$scratch/after"

# --- local settings kept, upgrade rewrites only the binary -------------------------------
echo 'ORC_DAEMON_ARGS=--hostname board-a' >>"$r1/etc/default/orc"
cp "$bin" "$scratch/orc-new"
printf 'upgrade' >>"$scratch/orc-new" # still a valid ELF, different content
check "upgrade run succeeds" run "$r1" --no-systemd --binary "$scratch/orc-new" --cgroup v1 --br-netfilter yes
check "upgrade installed the new binary" cmp -s "$scratch/orc-new" "$r1/usr/local/bin/orc"
check "upgrade wrote only the binary" bash -c "[ \"\$(grep -c wrote '$scratch/last.log')\" = 1 ] && grep -q 'wrote     /usr/local/bin/orc' '$scratch/last.log'"
check "local /etc/default/orc kept" grep -qx 'ORC_DAEMON_ARGS=--hostname board-a' "$r1/etc/default/orc"
check "re-run without --binary keeps the installed one" run "$r1" --no-systemd --cgroup v1 --br-netfilter yes
check "binary still the upgraded one" cmp -s "$scratch/orc-new" "$r1/usr/local/bin/orc"

# --- cgroup v2 board without br_netfilter; a foreign containerd config -----------------
r2=$scratch/root2
mkdir -p "$r2/etc/containerd"
printf 'version = 2\n# the distribution default\n' >"$r2/etc/containerd/config.toml"
cp "$r2/etc/containerd/config.toml" "$scratch/foreign.toml"
check "cgroup v2 run succeeds" run "$r2" --no-systemd --binary "$bin" --cgroup v2 --br-netfilter no
check "cgroup v2: SystemdCgroup = true" has_line "$r2/etc/containerd/config.toml" '  SystemdCgroup = true'
check "no br_netfilter: no bridge sysctls" not grep -q "^net.bridge" "$r2/etc/sysctl.d/90-orc.conf"
check "no br_netfilter: module not loaded at boot" not grep -q br_netfilter "$r2/etc/modules-load.d/orc.conf"
check "foreign containerd config backed up" cmp -s "$scratch/foreign.toml" "$r2/etc/containerd/config.toml.orc-backup"
check "second v2 run succeeds" run "$r2" --no-systemd --binary "$bin" --cgroup v2 --br-netfilter no
check "backup kept, not overwritten by orc's config" cmp -s "$scratch/foreign.toml" "$r2/etc/containerd/config.toml.orc-backup"

# --- bad input refused -------------------------------------------------------------------
r3=$scratch/root3
mkdir -p "$r3"
check "refuses a missing binary file" not run_quiet --root "$r3" --no-systemd --binary "$scratch/nope"
printf '#!/bin/sh\n' >"$scratch/not-elf"
check "refuses a non-ELF binary" not run_quiet --root "$r3" --no-systemd --binary "$scratch/not-elf"
check "refuses no binary when none is installed" not run_quiet --root "$r3" --no-systemd
check "refuses --cgroup v3" not run_quiet --root "$r3" --no-systemd --binary "$bin" --cgroup v3
check "refuses an unknown option" not run_quiet --root "$r3" --bogus
check "refused runs wrote nothing" test -z "$(find "$r3" -mindepth 1 -print -quit)"

# --- systemd, offline -------------------------------------------------------------------
if command -v systemctl >/dev/null; then
  r4=$scratch/root4
  mkdir -p "$r4"
  check "run with systemctl --root succeeds" run "$r4" --binary "$bin" --cgroup v1
  check "orc.service enabled (multi-user.target.wants link)" \
    test -L "$r4/etc/systemd/system/multi-user.target.wants/orc.service"
else
  echo "SKIP: install: no systemctl here, offline enable not tested"
fi

if command -v systemd-analyze >/dev/null && [ -d /usr/lib/systemd/system ]; then
  # verify needs the units the unit refers to (sysinit.target, containerd.service…):
  # give the root a copy of this machine's units, and a containerd unit if none.
  mkdir -p "$r1/usr/lib/systemd"
  cp -a /usr/lib/systemd/system "$r1/usr/lib/systemd/"
  if [ ! -e "$r1/usr/lib/systemd/system/containerd.service" ]; then
    mkdir -p "$r1/usr/bin"
    printf '#!/bin/sh\n' >"$r1/usr/bin/containerd" && chmod 755 "$r1/usr/bin/containerd"
    printf '[Unit]\nDescription=stub\n[Service]\nExecStart=/usr/bin/containerd\n' \
      >"$r1/usr/lib/systemd/system/containerd.service"
  fi
  # verify exits 0 on mere warnings (a misspelt setting is "ignored"): any output fails.
  if out=$(systemd-analyze --root="$r1" verify /etc/systemd/system/orc.service 2>&1) && [ -z "$out" ]; then
    pass "systemd-analyze verify orc.service: clean"
  else
    fail "systemd-analyze verify orc.service: $out"
  fi
else
  echo "SKIP: install: systemd-analyze not available"
fi

# --- the Debian package ------------------------------------------------------------------
if command -v dpkg-deb >/dev/null; then
  if deb=$(bash deploy/armbian/mkdeb.sh "$bin" "$scratch/deb" 2>"$scratch/mkdeb.err"); then
    pass "mkdeb.sh built $(basename "$deb")"
    dpkg-deb -f "$deb" Package Architecture Depends Recommends >"$scratch/deb.fields"
    dpkg-deb -c "$deb" >"$scratch/deb.files"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/orc.service >"$scratch/deb.unit"
    check "deb: Package orc, Depends containerd and runc, Recommends nftables" \
      bash -c "grep -qx 'Package: orc' '$scratch/deb.fields' && grep -qx 'Depends: containerd, runc' '$scratch/deb.fields' && grep -qx 'Recommends: nftables' '$scratch/deb.fields'"
    check "deb: Architecture matches the binary ($(uname -m))" \
      grep -qxE "Architecture: $(dpkg --print-architecture)" "$scratch/deb.fields"
    check "deb: /usr/bin/orc is 0755 root" grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/orc$' "$scratch/deb.files"
    check "deb: unit runs /usr/bin/orc" grep -q '^ExecStart=/usr/bin/orc daemon ' "$scratch/deb.unit"
    for f in etc/default/orc etc/sysctl.d/90-orc.conf etc/modules-load.d/orc.conf; do
      check "deb: conffile /$f" bash -c "grep -q ' \./$f\$' '$scratch/deb.files' && dpkg-deb -I '$deb' conffiles | grep -qx '/$f'"
    done
  else
    fail "mkdeb.sh: $(cat "$scratch/mkdeb.err")"
  fi
else
  echo "SKIP: install: dpkg-deb not available"
fi

# --- the real containerd accepts the generated config -------------------------------------
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
  c=$scratch/ctd
  mkdir -p "$c"
  # Same file, with the only host path it names moved into the scratch dir.
  sed "s#/var/lib/containerd/opt#$c/opt#" "$ctd" >"$c/config.toml"
  containerd --config "$c/config.toml" --root "$c/root" --state "$c/state" \
    --address "$c/containerd.sock" >"$c/log" 2>&1 &
  ctd_pid=$!
  deadline=$((SECONDS + 20))
  until ctr --address "$c/containerd.sock" version >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$ctd_pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  if ctr --address "$c/containerd.sock" plugins ls >"$c/plugins" 2>&1; then
    pass "containerd starts with the generated config"
    check "containerd: overlayfs snapshotter ok" \
      grep -qE '^io\.containerd\.snapshotter\.v1[[:space:]]+overlayfs[[:space:]].*[[:space:]]ok[[:space:]]*$' "$c/plugins"
    check "containerd: CRI plugin not loaded" not grep -qE '^io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]]' "$c/plugins"
  else
    fail "containerd did not start with the generated config: $(tail -5 "$c/log")"
  fi
  kill "$ctd_pid" 2>/dev/null || true
  wait "$ctd_pid" 2>/dev/null || true
  ctd_pid=""
else
  echo "SKIP: install: containerd not installed, config not loaded"
fi

if [ "$failures" -gt 0 ]; then
  echo "armbian install: $failures failure(s)"
  exit 1
fi
echo "armbian install: all checks passed"
