#!/usr/bin/env bash
# The naive conversion ConvertTo-OciGitRepo is measured against (what oci2git does): for each
# history step, unpack the layer into a work tree (whiteouts and opaque directories applied first),
# then `git add -A` and `git commit`; empty steps become empty commits.
# Usage: git-naive.sh LAYOUT TAG REPOSITORY
set -euo pipefail
layout="$1" tag="$2" repo="$3"
rm -rf "$repo"
mkdir -p "$repo/rootfs"
git -C "$repo" init -q
git -C "$repo" config user.name naive
git -C "$repo" config user.email naive@localhost
layer_tar="$(mktemp)"
trap 'rm -f "$layer_tar"' EXIT

# One line per history step: "<blob path or -><TAB><created_by>".
python3 - "$layout" "$tag" <<'PY' |
import json, sys
layout, tag = sys.argv[1], sys.argv[2]
blob = lambda d: f"{layout}/blobs/{d.replace(':', '/')}"
index = json.load(open(f"{layout}/index.json"))
entry = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(blob(entry["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))
layers = iter(manifest["layers"])
for step in config.get("history", []):
    path = "-" if step.get("empty_layer") else blob(next(layers)["digest"])
    print(path + "\t" + step.get("created_by", "").replace("\n", " "))
PY
while IFS=$'\t' read -r blob message; do
    if [ "$blob" != "-" ]; then
        gzip -dc "$blob" >"$layer_tar"
        # Deletions first, as the overlay rules say, from the layer's own listing.
        tar -tf "$layer_tar" | { grep -E '(^|/)\.wh\.' || true; } | while IFS= read -r name; do
            name="${name#./}"
            base="${name##*/}"
            dir="${name%/*}"
            [ "$dir" = "$name" ] && dir=.
            if [ "$base" = ".wh..wh..opq" ]; then
                find "$repo/rootfs/$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null || true
            elif [ "${base#.wh.}" != "$base" ]; then
                rm -rf "$repo/rootfs/$dir/${base#.wh.}"
            fi
        done
        tar -xf "$layer_tar" -C "$repo/rootfs" --exclude='.wh.*' --exclude='*/.wh.*'
    fi
    git -C "$repo" add -A
    git -C "$repo" commit -q --allow-empty -m "${message:-layer}"
done
