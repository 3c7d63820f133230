# Sourced by the test scripts: `apt_need PKG...` installs (apt-get, quietly) the
# packages of the list that aren't installed yet, and nothing when all are.
apt_need() {
  local need=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

# `rust_need`: a Rust toolchain with rustfmt and clippy, from rustup (minimal profile)
# when cargo is missing (a fresh Debian has none); puts ~/.cargo/bin on PATH.
rust_need() {
  if ! command -v cargo >/dev/null; then
    if ! [ -x "$HOME/.cargo/bin/cargo" ]; then
      echo "installing Rust (rustup, minimal profile)"
      curl -sSf https://sh.rustup.rs | sh -s -- -y -q --profile minimal -c rustfmt -c clippy
    fi
    export PATH=$HOME/.cargo/bin:$PATH
  fi
}
