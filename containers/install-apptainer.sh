#!/usr/bin/env bash
# Make sure `apptainer` runs here before the container tests (called by `make test`, like
# slurm/dev-cluster/ensure.sh). Idempotent:
#  - an apptainer on PATH (the site's `module load apptainer`, a distro package, an earlier install): use it;
#  - root with apt-get and the prebuilt Apptainer 1.4.5 for Debian 12 in $APPTAINER_TARBALL
#    (default ../shared/tools/ beside the checkout): install its runtime packages from the machine's own
#    archive, check the tarball's sha256, unpack it to /opt/apptainer and link /usr/local/bin/apptainer;
#  - otherwise: say how to get one and exit 0 (the container tests then skip with a reason).
# With CI=true, not ending with a working apptainer fails the build (exit 1) with the reason.
# SERTACK_SKIP_CONTAINER=1 skips all of this. Prints `apptainer version ...` on success.
set -uo pipefail
export PATH="$PATH:/usr/local/bin:/usr/local/sbin:/usr/sbin:/sbin"

HERE=$(cd "$(dirname "$0")" && pwd)
TARBALL=${APPTAINER_TARBALL:-$HERE/../../shared/tools/apptainer-1.4.5-bookworm-amd64.tar.xz}
SHA256=c2c1eab4bea6244ae5e515c0dd2cd5ad320f37b5927fe7f6f3149fa0a8ccceb2
# What the prebuilt binary needs at run time, plus debootstrap to build the registry-free image.
RUNTIME_PKGS="squashfs-tools squashfuse fuse-overlayfs uidmap libseccomp2 libsubid4 debootstrap"
HOWTO="get one with 'module load apptainer' on a cluster, your distribution's apptainer package, or
  https://apptainer.org/docs/admin/main/installation.html; on Debian 12 as root with the prebuilt tarball:
  APPTAINER_TARBALL=/path/apptainer-1.4.5-bookworm-amd64.tar.xz bash containers/install-apptainer.sh"

in_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }
skip() {
  if in_ci; then echo "install-apptainer.sh: error: CI=true but apptainer cannot be installed: $*" >&2; exit 1; fi
  echo "install-apptainer.sh: $*; container tests will be skipped ($HOWTO)"
  exit 0
}
works() { command -v apptainer >/dev/null && apptainer --version 2>/dev/null; }

if [ "${SERTACK_SKIP_CONTAINER:-0}" = 1 ]; then
  echo "install-apptainer.sh: SERTACK_SKIP_CONTAINER=1; container tests will be skipped"; exit 0
fi
if version=$(works); then echo "install-apptainer.sh: using $(command -v apptainer) ($version)"; exit 0; fi
[ "$(id -u)" = 0 ] || skip "no apptainer on PATH and not root, so it cannot be installed"
command -v apt-get >/dev/null || skip "no apptainer on PATH and no apt-get to install its runtime packages"
[ -f "$TARBALL" ] || skip "no apptainer on PATH and no prebuilt tarball at $TARBALL"

start=$SECONDS
got=$(sha256sum "$TARBALL" | cut -d' ' -f1)
[ "$got" = "$SHA256" ] || skip "$TARBALL: sha256 $got, expected $SHA256 (corrupt or a different build)"
missing=$(for p in $RUNTIME_PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "install-apptainer.sh: apt-get install" $missing
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends $missing >/tmp/sertack-apt.log 2>&1; then
    apt-get update -qq >>/tmp/sertack-apt.log 2>&1
    apt-get install -y -qq --no-install-recommends $missing >>/tmp/sertack-apt.log 2>&1 \
      || { tail -5 /tmp/sertack-apt.log >&2; skip "apt-get install $missing failed (log: /tmp/sertack-apt.log)"; }
  fi
fi
# -p keeps starter-suid's setuid bit (unprivileged runs go through it)
tar -xJpf "$TARBALL" -C / || skip "could not unpack $TARBALL"
ln -sf /opt/apptainer/bin/apptainer /usr/local/bin/apptainer
version=$(works) || skip "unpacked $TARBALL but 'apptainer --version' fails"
echo "install-apptainer.sh: installed $version to /opt/apptainer in $((SECONDS - start)) s"
