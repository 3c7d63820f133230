#!/usr/bin/env bash
# The board build, checked: orc for aarch64-unknown-linux-musl must build, be static
# and stripped, stay under the size budget in docs/performance*.md, and run under
# qemu-user (`--version`, `stack validate` on the examples, an invalid stack rejected).
# Then the Armbian install script is tested in a scratch root (tests/armbian_install.sh).
#
# Run by CI after the main tests, as root on Debian 12:   bash tests/cross.sh
# Environment:
#   ORC_CROSS_PROFILE=dist|release   cargo profile to build (default: dist, what ships)
#   ORC_CROSS_SKIP_BUILD=1           check an already built binary, don't run cargo
#   ORC_CROSS_BIN=PATH               the binary to check (implies ORC_CROSS_SKIP_BUILD=1)
#   ORC_CROSS_SKIP_INSTALL_TEST=1    don't run tests/armbian_install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-musl
PROFILE=${ORC_CROSS_PROFILE:-dist}
BIN=${ORC_CROSS_BIN:-target/$TARGET/$PROFILE/orc}
# The hard ceilings from the project's goals, whatever the budget file says: 12 MB for
# the release build, 10 MB for the shipped dist build (CI checks dist since round 2:
# docs/performance-boards.md says why).
case "$PROFILE" in
  dist) HARD_CAP_BYTES=10000000; BUDGET_KEY=dist-size-budget-bytes ;;
  *) HARD_CAP_BYTES=12000000; BUDGET_KEY=size-budget-bytes ;;
esac

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# --- tools, installed only if missing -------------------------------------------------
# libc6-dev-arm64-cross is only a Recommends of the cross gcc, but C code built for the
# target (ring, under rustls) needs its headers.
. tests/apt-need.sh
apt_need gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static file binutils \
         protobuf-compiler dpkg
if ! rustup target list --installed | grep -qx "$TARGET"; then
  rustup target add "$TARGET"
fi

# --- build ----------------------------------------------------------------------------
if [ "${ORC_CROSS_SKIP_BUILD:-0}" != 1 ] && [ -z "${ORC_CROSS_BIN:-}" ]; then
  # Linker, static CRT and qemu runner come from .cargo/config.toml.
  start=$(date +%s)
  if CARGO_TERM_COLOR=never cargo build -p orc --profile "$PROFILE" --target "$TARGET" --locked; then
    pass "cargo build -p orc --profile $PROFILE --target $TARGET ($(( $(date +%s) - start )) s)"
  else
    fail "cargo build -p orc --profile $PROFILE --target $TARGET"
    echo "cross: $failures failure(s)"
    exit 1
  fi
fi
if [ ! -f "$BIN" ]; then
  fail "no binary at $BIN"
  exit 1
fi

# --- static, stripped, aarch64 -------------------------------------------------------
desc=$(file -b "$BIN")
echo "file: $desc"
case "$desc" in
  *"ARM aarch64"*) pass "binary is aarch64" ;;
  *) fail "binary is not aarch64: $desc" ;;
esac
case "$desc" in
  *"statically linked"* | *"static-pie linked"*) pass "file(1) says statically linked" ;;
  *) fail "file(1) does not say statically linked: $desc" ;;
esac
# readelf reads any ELF whatever the host arch: no interpreter, no shared libraries.
phdrs=$(readelf -lW "$BIN")
if grep -q "INTERP" <<<"$phdrs"; then
  fail "binary has a PT_INTERP program header (dynamic loader): $(grep -A1 INTERP <<<"$phdrs" | tr -s ' ' | tr '\n' ' ')"
else
  pass "no PT_INTERP program header"
fi
dynamic=$(readelf -dW "$BIN")
needed=$(grep "(NEEDED)" <<<"$dynamic" || true)
if [ -n "$needed" ]; then
  fail "binary needs shared libraries: $needed"
else
  pass "no NEEDED shared libraries"
fi
sections=$(readelf -SW "$BIN")
if grep -qE '\.symtab|\.debug_' <<<"$sections"; then
  fail "binary is not stripped (.symtab or .debug_* present)"
else
  pass "binary is stripped (no .symtab, no .debug_*)"
fi

# --- size budget ----------------------------------------------------------------------
# The budget is a machine-readable line at the start of a line, `size-budget-bytes: N`
# (release) or `dist-size-budget-bytes: N` (dist), in docs/performance-boards.md (or
# docs/performance.md).
budget=""
for doc in docs/performance-boards.md docs/performance.md; do
  [ -f "$doc" ] || continue
  budget=$(grep -oE "^$BUDGET_KEY: *[0-9]+" "$doc" | head -n1 | grep -oE '[0-9]+$' || true)
  [ -n "$budget" ] && { budget_doc=$doc; break; }
done
size=$(stat -c %s "$BIN")
echo "size: $size bytes ($(awk "BEGIN{printf \"%.2f\", $size/1048576}") MiB), $BIN"
if [ -z "$budget" ]; then
  fail "no '$BUDGET_KEY: N' line in docs/performance-boards.md or docs/performance.md"
elif [ "$budget" -gt "$HARD_CAP_BYTES" ]; then
  fail "budget $budget in $budget_doc is above the hard cap $HARD_CAP_BYTES"
elif [ "$size" -gt "$budget" ]; then
  fail "binary is $size bytes, over the budget of $budget bytes ($budget_doc)"
else
  pass "size $size <= budget $budget bytes ($budget_doc; $(( (budget - size) * 100 / budget )) % headroom left)"
fi

# --- smoke run under qemu-user --------------------------------------------------------
QEMU=qemu-aarch64-static
run() { "$QEMU" "$BIN" "$@"; }

if out=$(run --version 2>&1) && grep -q '^orc ' <<<"$out"; then
  pass "qemu: orc --version -> $out"
else
  fail "qemu: orc --version: ${out:-no output}"
fi
if run --help >/dev/null 2>&1; then
  pass "qemu: orc --help"
else
  fail "qemu: orc --help"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Every example stack must validate; if the examples aren't there yet, a known-good one.
stacks=()
for f in examples/*/stack.toml; do
  [ -f "$f" ] && stacks+=("$f")
done
if [ ${#stacks[@]} -eq 0 ]; then
  echo "note: no examples/*/stack.toml yet, validating a built-in stack instead"
  mkdir -p "$scratch/hello"
  cat >"$scratch/hello/stack.toml" <<'EOF'
[services.web]
image = "demo/busybox:1"
command = ["httpd", "-f", "-p", "8080"]
replicas = 2
EOF
  stacks+=("$scratch/hello/stack.toml")
fi
for f in "${stacks[@]}"; do
  if out=$(run stack validate "$f" 2>&1); then
    pass "qemu: orc stack validate $f"
  else
    fail "qemu: orc stack validate $f: $out"
  fi
done

# An invalid stack is rejected with a non-zero exit and a diagnostic naming the file.
cat >"$scratch/broken.toml" <<'EOF'
[services.web]
replicas = "many"
EOF
if out=$(run stack validate "$scratch/broken.toml" 2>&1); then
  fail "qemu: orc stack validate accepted an invalid stack: $out"
elif grep -q "broken.toml" <<<"$out"; then
  pass "qemu: invalid stack rejected (non-zero exit, diagnostic names the file)"
else
  fail "qemu: invalid stack rejected but the message doesn't name the file: $out"
fi
if run stack validate "$scratch/missing.toml" >/dev/null 2>&1; then
  fail "qemu: orc stack validate accepted a missing file"
else
  pass "qemu: missing stack file rejected"
fi

# --- the arm64 Debian package -----------------------------------------------------------
if deb=$(bash deploy/armbian/mkdeb.sh "$BIN" "target/deb" 2>&1) &&
  [ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ]; then
  pass "arm64 .deb: $deb ($(stat -c %s "$deb") bytes)"
else
  fail "arm64 .deb: $deb"
fi

# --- the Armbian installer ------------------------------------------------------------
if [ "${ORC_CROSS_SKIP_INSTALL_TEST:-0}" != 1 ]; then
  if bash tests/armbian_install.sh; then
    pass "tests/armbian_install.sh"
  else
    fail "tests/armbian_install.sh"
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "cross: $failures failure(s)"
  exit 1
fi
echo "cross: all checks passed"
