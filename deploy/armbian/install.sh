#!/usr/bin/env bash
# Install orc on a fresh Armbian board (Debian or Ubuntu based), as root:
#
#   ./install.sh --binary ./orc                 # or: ./install.sh ./orc
#   ./install.sh --binary https://…/orc-aarch64  # fetched with curl
#
# Installs containerd and runc from apt (nftables only with --nft: orc programs nf_tables
# over netlink itself; the nft tool is its fallback and a way to look), writes
# containerd's config, the kernel modules and sysctls orc needs, puts orc in
# /usr/local/bin, installs the systemd unit (orc.service, next to this script) and
# enables and starts it. Safe to run again:
# unchanged files are left alone; a new binary or unit restarts orc (that is the
# upgrade path, see docs/boards.md).
#
# Options:
#   --binary PATH|URL   the orc binary to install (default: keep the installed one)
#   --root DIR          install into the tree DIR instead of / (images, tests): no apt,
#                       no modprobe, no live sysctl; systemctl only enables, offline
#   --no-systemd        never call systemctl (machines without systemd)
#   --no-packages       don't apt-get install containerd, runc (nor nftables)
#   --nft               also install the nftables package (the `nft` tool)
#   --cgroup v1|v2      override cgroup detection (default: /sys/fs/cgroup/cgroup.controllers)
#   --br-netfilter yes|no  override br_netfilter detection
#   --force-arch        install a binary built for another CPU than this machine's
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
with_nft=0 root="" binary="" use_systemd=1 packages=1 cgroup="" br_nf="" force_arch=0

die() { echo "install: error: $*" >&2; exit 1; }
say() { echo "install: $*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path or URL"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --no-systemd) use_systemd=0; shift ;;
    --no-packages) packages=0; shift ;;
    --nft) with_nft=1; shift ;;
    --cgroup) [ $# -ge 2 ] || die "--cgroup needs v1 or v2"; cgroup=$2; shift 2 ;;
    --br-netfilter) [ $# -ge 2 ] || die "--br-netfilter needs yes or no"; br_nf=$2; shift 2 ;;
    --force-arch) force_arch=1; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "install: unknown option $1" >&2; usage 2 ;;
    *) [ -z "$binary" ] || die "more than one binary given"; binary=$1; shift ;;
  esac
done

live=1 # acting on the running machine (not an offline tree)
if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root $root is not a directory"
  root=$(cd "$root" && pwd)
  if [ "$root" = / ]; then root=""; else live=0; packages=0; fi
fi
[ "$live" = 0 ] || [ "$(id -u)" = 0 ] || die "run as root"
case "$cgroup" in "" | v1 | v2) ;; *) die "--cgroup must be v1 or v2" ;; esac
case "$br_nf" in "" | yes | no) ;; *) die "--br-netfilter must be yes or no" ;; esac
unit_src=$here/orc.service
[ -f "$unit_src" ] || die "$unit_src is missing (keep orc.service next to install.sh)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
changed=() # paths (relative to the root) whose content or mode changed

# put SRC DEST MODE: install SRC as ROOT/DEST with MODE, atomically, only if different.
put() {
  local src=$1 dest=$root$2 mode=$3
  if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    say "unchanged $2"
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$mode" "$src" "$dest.orc-new"
  mv -f "$dest.orc-new" "$dest"
  changed+=("$2")
  say "wrote     $2 (mode $mode)"
}
was_changed() { local p; for p in "${changed[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

# --- packages -------------------------------------------------------------------------
if [ "$packages" = 1 ]; then
  need=()
  pkgs=(containerd runc ca-certificates)
  [ "$with_nft" = 1 ] && pkgs+=(nftables)
  for pkg in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
  case "$binary" in http://* | https://*) command -v curl >/dev/null || need+=(curl) ;; esac
  if [ ${#need[@]} -gt 0 ]; then
    say "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# --- the binary -----------------------------------------------------------------------
# ELF e_machine of a file (183 aarch64, 40 arm, 62 x86_64), without needing file(1).
elf_machine() { od -An -tu2 -j18 -N2 "$1" 2>/dev/null | tr -d ' '; }
if [ -n "$binary" ]; then
  case "$binary" in
    http://* | https://*)
      command -v curl >/dev/null || die "curl is needed to fetch $binary"
      say "fetching $binary"
      curl -fsSL --retry 3 -o "$tmp/orc" "$binary" || die "cannot download $binary"
      ;;
    *)
      [ -f "$binary" ] || die "no such file: $binary"
      cp "$binary" "$tmp/orc"
      ;;
  esac
  [ "$(head -c4 "$tmp/orc" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || die "$binary is not an ELF executable"
  case "$(uname -m)" in
    aarch64 | arm64) want=183 ;; armv7l | armv6l | armhf) want=40 ;; x86_64) want=62 ;; *) want="" ;;
  esac
  have=$(elf_machine "$tmp/orc")
  if [ -n "$want" ] && [ "$have" != "$want" ]; then
    msg="$binary is built for ELF machine $have, this machine ($(uname -m)) needs $want"
    if [ "$live" = 1 ] && [ "$force_arch" = 0 ]; then die "$msg (--force-arch to install anyway)"; fi
    say "warning: $msg"
  fi
  put "$tmp/orc" /usr/local/bin/orc 0755
elif [ ! -x "$root/usr/local/bin/orc" ]; then
  die "orc is not installed yet: give the binary with --binary PATH|URL"
else
  say "keeping   /usr/local/bin/orc"
fi

# --- kernel modules and sysctls -------------------------------------------------------
if [ -z "$br_nf" ]; then
  br_nf=no
  if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ||
    modprobe -n br_netfilter >/dev/null 2>&1 ||
    find "/lib/modules/$(uname -r)" -name 'br_netfilter.ko*' 2>/dev/null | grep -q .; then
    br_nf=yes
  fi
fi
{
  echo "# Kernel modules orc needs at boot. Managed by orc's install.sh."
  echo "overlay"
  if [ "$br_nf" = yes ]; then echo "br_netfilter"; fi
} >"$tmp/modules.conf"
put "$tmp/modules.conf" /etc/modules-load.d/orc.conf 0644

{
  cat <<'EOF'
# Kernel settings orc needs. Managed by orc's install.sh (rewritten on every run;
# put local changes in a file that sorts later, e.g. 99-local.conf).
# Containers on the node bridge reach the network and other boards through routing.
net.ipv4.ip_forward = 1
# Services may bind the cluster's virtual IP on the boards that don't hold it yet.
net.ipv4.ip_nonlocal_bind = 1
# Containers, log followers and config watchers: the defaults (128 instances) are small.
fs.inotify.max_user_instances = 1024
fs.inotify.max_user_watches = 524288
EOF
  if [ "$br_nf" = yes ]; then
    cat <<'EOF'
# Bridged container traffic goes through iptables/nftables (published ports, isolation).
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
EOF
  fi
} >"$tmp/sysctl.conf"
put "$tmp/sysctl.conf" /etc/sysctl.d/90-orc.conf 0644

if [ "$live" = 1 ]; then
  modprobe overlay 2>/dev/null || grep -qw overlay /proc/filesystems || say "warning: no overlay filesystem in this kernel"
  if [ "$br_nf" = yes ]; then
    modprobe br_netfilter 2>/dev/null || say "warning: modprobe br_netfilter failed"
  fi
  sysctl -q -p /etc/sysctl.d/90-orc.conf || say "warning: some sysctls could not be applied now (they apply at boot)"
fi

# --- containerd -----------------------------------------------------------------------
if [ -z "$cgroup" ]; then
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then cgroup=v2; else cgroup=v1; fi
fi
if [ "$cgroup" = v2 ]; then systemd_cgroup=true; else systemd_cgroup=false; fi
if [ "$live" = 1 ] && [ "$cgroup" = v1 ] && [ -r /proc/cgroups ] &&
  ! awk '$1 == "memory" && $4 == 1 { ok = 1 } END { exit !ok }' /proc/cgroups; then
  say "warning: the memory cgroup is disabled: memory limits won't work. On Armbian add"
  say "         'extraargs=cgroup_enable=memory swapaccount=1' to /boot/armbianEnv.txt and reboot"
fi
cat >"$tmp/containerd.toml" <<EOF
# containerd for orc. Managed by orc's install.sh (rewritten on every run; the file
# found before the first run is kept as config.toml.orc-backup).
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
# orc uses containerd's own API; the Kubernetes CRI plugin isn't needed.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"

# This board's kernel has cgroup $cgroup: SystemdCgroup = $systemd_cgroup. These are the
# defaults for CRI clients should the CRI plugin be re-enabled; orc itself asks for the
# overlayfs snapshotter and the runc v2 shim with every image and container it creates.
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = $systemd_cgroup
EOF
ctd=$root/etc/containerd/config.toml
if [ -f "$ctd" ] && ! grep -q "Managed by orc's install.sh" "$ctd" && [ ! -e "$ctd.orc-backup" ]; then
  cp -p "$ctd" "$ctd.orc-backup"
  say "kept the previous containerd config as /etc/containerd/config.toml.orc-backup"
fi
put "$tmp/containerd.toml" /etc/containerd/config.toml 0644

# --- the service ----------------------------------------------------------------------
put "$unit_src" /etc/systemd/system/orc.service 0644
if [ ! -e "$root/etc/default/orc" ]; then
  cat >"$tmp/default" <<'EOF'
# Settings for orc.service (read at every start; `systemctl restart orc` after editing).
# Extra flags for `orc daemon`, e.g. --hostname rock64-a --listen 0.0.0.0:4747
# (Prometheus metrics: --metrics-addr 127.0.0.1:9323, or the board's LAN address)
ORC_DAEMON_ARGS=
# Log filter (tracing EnvFilter syntax).
ORC_LOG=info,openraft=warn,sled=warn
EOF
  put "$tmp/default" /etc/default/orc 0644
else
  say "keeping   /etc/default/orc (local settings)"
fi
mkdir -p "$root/var/lib/orc"
chmod 0700 "$root/var/lib/orc"

if [ "$use_systemd" = 0 ]; then
  say "--no-systemd: not enabling or starting anything"
elif [ "$live" = 0 ]; then
  if command -v systemctl >/dev/null; then
    systemctl --root="$root" enable containerd.service orc.service >/dev/null 2>&1 ||
      systemctl --root="$root" enable orc.service
    say "enabled orc.service in $root (offline)"
  else
    say "no systemctl here: enable orc.service in $root yourself"
  fi
else
  command -v systemctl >/dev/null || die "systemctl not found (use --no-systemd)"
  systemctl daemon-reload
  if was_changed /etc/containerd/config.toml; then
    say "restarting containerd (new config)"
    systemctl restart containerd.service
  fi
  systemctl enable --now containerd.service
  systemctl enable orc.service
  if systemctl is-active --quiet orc.service &&
    { was_changed /usr/local/bin/orc || was_changed /etc/systemd/system/orc.service; }; then
    say "restarting orc (new binary or unit; containers keep running)"
    systemctl restart orc.service
  else
    systemctl start orc.service
  fi
  systemctl --no-pager --lines=0 status orc.service || true
fi

if [ "$live" = 1 ] && v=$(/usr/local/bin/orc --version 2>/dev/null); then
  say "installed ${v%%$'\n'*}"
fi
say "done${root:+ (in $root)}; next: docs/boards.md (orc cluster init, or orc cluster join)"
