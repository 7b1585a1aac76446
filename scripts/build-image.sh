#!/usr/bin/env bash
# Build the local systemd base image for one Debian release, without any registry.
#
#   scripts/build-image.sh debian12|debian13
#
# The rootfs is made with debootstrap from the Debian mirror this build host already
# uses (read from its apt sources, so no mirror is named in the repository), then
# `docker import`ed. The image tag carries a hash of this recipe: the image is rebuilt
# only when the recipe changes. The build host's CA bundle is copied in so HTTPS works
# behind a TLS-inspecting proxy.
set -euo pipefail

platform=${1:?usage: build-image.sh debian12|debian13}
case "$platform" in
  debian12) suite=bookworm ;;
  debian13) suite=trixie ;;
  *) echo "build-image: unknown platform '$platform' (expected debian12 or debian13)" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
recipe_hash=$(cat "$0" "$here/image-packages.txt" | sha256sum | cut -c1-12)
image="orcaqueen/${platform}:${recipe_hash}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "build-image: $image is up to date"
  docker tag "$image" "orcaqueen/${platform}:latest"
  exit 0
fi

if ! command -v debootstrap >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "build-image: installing debootstrap from the distribution"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi
for tool in debootstrap docker; do
  command -v "$tool" >/dev/null || { echo "build-image: '$tool' is missing (apt-get install $tool)" >&2; exit 1; }
done

# The host's Debian mirror and security mirror, from deb822 or one-line sources.
sources=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)
mirror=$(printf '%s\n' "$sources" | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')
[ -n "$mirror" ] || mirror=$(printf '%s\n' "$sources" | awk '/^deb / && $2 !~ /security/ {print $2; exit}')
security=$(printf '%s\n' "$sources" | awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}')
[ -n "$security" ] || security=$(printf '%s\n' "$sources" | awk '/^deb / && $2 ~ /security/ {print $2; exit}')
[ -n "$mirror" ] || { echo "build-image: no Debian mirror found in this host's apt sources" >&2; exit 1; }
[ -n "$security" ] || security="${mirror%/debian}/debian-security"

work=$(mktemp -d /var/tmp/orcaqueen-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

packages=$(grep -vE '^\s*(#|$)' "$here/image-packages.txt" | paste -sd, -)
echo "build-image: debootstrap $suite from the host's mirror into $rootfs"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -30 "$work/debootstrap.log" >&2
  exit 1
}

cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF

# CA certificates of the build host, so HTTPS inside the containers trusts the same roots.
install -d "$rootfs/usr/local/share/ca-certificates/buildhost"
if [ -d /usr/local/share/ca-certificates ]; then
  find /usr/local/share/ca-certificates -maxdepth 2 -name '*.crt' -exec cp {} "$rootfs/usr/local/share/ca-certificates/buildhost/" \;
fi
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/local/share/ca-certificates/buildhost/host-bundle.crt"
chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || true

# A container image: no getty, no udev triggers, a machine-id made at first boot.
rm -f "$rootfs"/etc/machine-id "$rootfs"/var/lib/dbus/machine-id
touch "$rootfs/etc/machine-id"
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-firstboot.service systemd-modules-load.service sys-kernel-config.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/60orcaqueen-no-recommends"
# Package lists as of the build, with apt's success stamp: a container's first `apt` task with
# cache_valid_time (the roles', the scenarios' prepares) need not download them again while they are
# fresh, and refreshes them when the image is older. Without network here the lists stay empty and
# the first apt task downloads them, as before.
cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
chroot "$rootfs" apt-get update -qq >"$work/apt-update.log" 2>&1 ||
  { echo "build-image: apt-get update in the image failed (the containers will refresh the lists themselves):" >&2
    tail -5 "$work/apt-update.log" >&2; rm -rf "$rootfs"/var/lib/apt/lists/*; }
: >"$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/cache/apt/*.bin

echo "build-image: importing $image"
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'ENV container=docker' \
  - "$image" >/dev/null
docker tag "$image" "orcaqueen/${platform}:latest"
echo "build-image: built $image"
