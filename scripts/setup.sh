#!/usr/bin/env bash
# Sets up roam on a fresh Debian 12 machine, idempotently: apt packages, bpffs, npm packages,
# and the BPF/native build. Safe to run again: each step does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "roam setup: $*" >&2; exit 1; }
step() { echo "roam setup: $*"; }

# Preconditions: root, a kernel with the bpf() syscall, Node >= 20.
[ "$(id -u)" = 0 ] || die "must run as root (it installs packages, mounts bpffs and loads BPF programs): run it with sudo."
[ -e /proc/sys/kernel/unprivileged_bpf_disabled ] || die "this kernel has no BPF support (CONFIG_BPF_SYSCALL is off), so roam cannot run here."
command -v node >/dev/null || die "Node.js >= 20 is required and node is not on PATH."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is required, found $(node -v)."

# Debian packages: the BPF toolchain, network tools the tests and demo drive, etcd for the
# etcd store's tests. Only missing ones are installed.
APT_PACKAGES=(clang llvm libbpf-dev libbpf1 bpftool gcc make iproute2 iputils-ping arping ndisc6
  netsniff-ng tcpdump tshark etcd-server etcd-client procps ethtool nftables python3)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's etcd-server starts a system etcd on 2379 when systemd runs; the tests use their own
# ports on loopback, so it is left alone.

# bpffs: pinned maps, programs and links live there.
if ! mountpoint -q /sys/fs/bpf; then
  step "mounting bpffs at /sys/fs/bpf"
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf || die "could not mount bpffs at /sys/fs/bpf."
fi

# npm packages, reinstalled only when package-lock.json changed since the last install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.roam-lock-hash ] || [ "$(cat node_modules/.roam-lock-hash)" != "$lock_hash" ]; then
  step "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.roam-lock-hash
fi

bash scripts/build.sh
step "ready"
