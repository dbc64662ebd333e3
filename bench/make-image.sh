#!/usr/bin/env bash
# Builds the benchmark image once: a Debian bookworm root filesystem (debootstrap) split into several
# gzip layers with umoci, with a last layer that deletes, replaces and hardlinks, so the merge has real
# work. Result: an OCI layout at $DATA/image (tag latest) and a docker-archive at $DATA/image.tar.
# Needs root (debootstrap), umoci, skopeo and a Debian mirror.
source "$(dirname "$0")/lib.sh"

image="$DATA/image"
if [ -f "$image/index.json" ] && [ -f "$DATA/image.tar" ]; then
    echo "bench image already at $image"
    exit 0
fi

rootfs="$DATA/rootfs"
if [ ! -x "$rootfs/usr/bin/python3" ]; then
    rm -rf "$rootfs"
    debootstrap --variant=minbase \
        --include=python3,perl,git,openssh-client,less,vim-tiny,curl,libpython3.11-dev,libboost1.74-dev,tzdata \
        bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi

rm -rf "$rootfs/var/cache/apt/archives/"*.deb
rm -rf "$image" "$DATA/bundle" "$DATA/image.tar"
umoci init --layout "$image"
umoci new --image "$image:latest"
umoci unpack --image "$image:latest" "$DATA/bundle"
target="$DATA/bundle/rootfs"

# layer: copy the named top-level parts of the rootfs into the bundle and commit them as one layer.
layer() {
    local message="$1" parts=() part
    shift
    for part in "$@"; do [ -e "$rootfs/$part" ] || [ -L "$rootfs/$part" ] && parts+=("$part"); done
    (cd "$rootfs" && tar --xattrs --xattrs-include='*' -cf - "${parts[@]}") | tar --xattrs --xattrs-include='*' -xpf - -C "$target"
    umoci repack --refresh-bundle --image "$image:latest" --history.created_by "$message" "$DATA/bundle"
}

layer "base system" bin boot etc home lib lib64 media mnt opt root run sbin srv tmp var usr/bin usr/sbin usr/libexec usr/local usr/include usr/games usr/src
layer "libraries" usr/lib
layer "shared data" usr/share

# A layer that changes what is below it: deletions (whiteouts), an opaque-style replacement of a
# directory, changed files and hardlinks.
rm -rf "$target/usr/share/doc" "$target/usr/share/man"
rm -rf "$target/usr/share/locale"
mkdir -p "$target/usr/share/locale/C.UTF-8"
echo "replaced" >"$target/usr/share/locale/C.UTF-8/README"
echo "# bench" >>"$target/etc/bash.bashrc"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$target/opt/blob.bin"
ln "$target/opt/blob.bin" "$target/opt/blob-link.bin"
chmod 4755 "$target/usr/bin/less"
umoci repack --refresh-bundle --image "$image:latest" --history.created_by "changes" "$DATA/bundle"
umoci gc --layout "$image"
rm -rf "$DATA/bundle"

skopeo copy --quiet "oci:$image:latest" "docker-archive:$DATA/image.tar:bench/debian:latest"

files="$(cd "$rootfs" && find . | wc -l)"
bytes="$(du -sb "$rootfs" | cut -f1)"
echo "bench image: $image ($files entries, $((bytes / 1024 / 1024)) MiB uncompressed before the last layer)"
