#!/bin/sh
# Builds the root filesystem of deploy/Dockerfile's image without a
# container engine, and checks it: a Debian root from debootstrap with the
# image's packages, fluxd built here, helm 4 and 3 (the ones the tests use,
# target/test-tools/bin), the non-root user and /etc/fluxd/ssh; then runs
# `fluxd --version`, `helm version`, git, ssh and gpg inside it by chroot, as
# the image's user. With umoci installed it also packs the root into an OCI
# image layout (ROOTFS_OCI=dir), which `skopeo inspect oci:dir:tag` reads.
#
# Needs root (debootstrap, chroot). Nothing is written inside the repository
# except cargo's target/; the root and the image go to ROOTFS_DIR
# (default: a new directory under /tmp), which the caller removes.
#
#   deploy/rootfs.sh                 # release build of fluxd
#   PROFILE=debug deploy/rootfs.sh   # the debug build (faster here)
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
release=${DEBIAN_RELEASE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
profile=${PROFILE:-release}
out=${ROOTFS_DIR:-$(mktemp -d /tmp/fluxd-rootfs.XXXXXX)}
mkdir -p "$out"
root="$out/rootfs"
tools=${FLUXRS_TOOLS_DIR:-$repo/target/test-tools}/bin

step() { printf '== %s\n' "$*" >&2; }
fail() { printf 'rootfs.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
[ -x "$tools/helm" ] && [ -x "$tools/helm3" ] || fail "no helm in $tools; run tests/scripts/install-test-deps.sh"

step "building fluxd ($profile)"
if [ "$profile" = release ]; then
    (cd "$repo" && cargo build --release --locked -p fluxd --bin fluxd)
else
    (cd "$repo" && cargo build --locked -p fluxd --bin fluxd)
fi
fluxd="$repo/target/$profile/fluxd"

step "debootstrap $release into $root"
started=$(date +%s)
debootstrap --variant=minbase --include=git,openssh-client,gnupg,ca-certificates \
    "$release" "$root" "$mirror" >"$out/debootstrap.log" 2>&1 \
    || { tail -20 "$out/debootstrap.log" >&2; fail "debootstrap failed (log: $out/debootstrap.log)"; }
step "debootstrap took $(( $(date +%s) - started ))s"

step "the image's files"
install -m 0755 "$fluxd" "$root/usr/local/bin/fluxd"
install -m 0755 "$tools/helm" "$root/usr/local/bin/helm"
install -m 0755 "$tools/helm3" "$root/usr/local/bin/helm3"
install -d "$root/etc/ssh/ssh_config.d"
install -m 0644 "$repo/deploy/image/ssh_config" "$root/etc/ssh/ssh_config.d/fluxd.conf"
chroot "$root" groupadd --gid 10001 flux
chroot "$root" useradd --uid 10001 --gid 10001 --home-dir /home/flux --create-home --shell /usr/sbin/nologin flux
chroot "$root" install -d -o 10001 -g 10001 -m 0700 /etc/fluxd/ssh /var/fluxd/keygen /var/fluxd/state
# What the Dockerfile's slim base and `rm -rf /var/lib/apt/lists/*` leave out.
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb

step "checks inside the root (chroot, as uid 10001)"
as_flux() { chroot --userspec=10001:10001 "$root" env HOME=/home/flux PATH=/usr/local/bin:/usr/bin:/bin "$@"; }
as_flux fluxd --version
as_flux helm version
as_flux helm3 version
as_flux git --version
as_flux ssh -V
as_flux gpg --version | head -1
as_flux sh -c 'test -d /etc/fluxd/ssh && test -w /var/fluxd/state && test ! -w /etc'
as_flux fluxd helm-operator --help >/dev/null
# fluxd at work inside the root: a dry run over a repository made there.
cp -r "$repo/examples/demo" "$root/tmp/demo"
chown -R 10001:10001 "$root/tmp/demo"
as_flux sh -c 'cd /tmp/demo && git init -q -b main && git add -A \
    && git -c user.name=check -c user.email=check@localhost commit -qm demo'
as_flux fluxd --git-url file:///tmp/demo --once --dry-run
rm -rf "$root/tmp/demo"
step "root filesystem: $(du -sh "$root" | cut -f1)"

if command -v umoci >/dev/null; then
    oci=${ROOTFS_OCI:-$out/oci}
    step "packing an OCI image layout at $oci (umoci)"
    umoci init --layout "$oci"
    umoci new --image "$oci:latest"
    umoci unpack --rootless --image "$oci:latest" "$out/bundle" >/dev/null 2>&1 || umoci unpack --image "$oci:latest" "$out/bundle"
    rm -rf "$out/bundle/rootfs"
    mv "$root" "$out/bundle/rootfs"
    umoci repack --image "$oci:latest" "$out/bundle"
    umoci config --image "$oci:latest" \
        --config.entrypoint fluxd --config.user 10001:10001 \
        --config.env HOME=/home/flux \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --config.exposedports 3030/tcp
    umoci gc --layout "$oci"
    mv "$out/bundle/rootfs" "$root"
    step "OCI image: $(du -sh "$oci" | cut -f1)"
fi
echo "$out"
