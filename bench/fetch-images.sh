#!/usr/bin/env bash
# Fetches the packaged photographs and renders listed in /work/shared/data-sources.md into a
# gitignored cache (default data/image-cache). Uses `apt-get download` + `dpkg-deb -x` only.
# Usage: bench/fetch-images.sh [cache-dir]
set -euo pipefail
CACHE="${1:-${DISCERN_IMAGE_CACHE:-data/image-cache}}"
mkdir -p "$CACHE/debs" "$CACHE/extract"
CACHE="$(cd "$CACHE" && pwd)"
PACKAGES=(plasma-workspace-wallpapers mate-backgrounds opencv-doc labelme-examples gcompris-qt-data
          gnome-backgrounds ukui-wallpapers sway-backgrounds)
cd "$CACHE/debs"
for pkg in "${PACKAGES[@]}"; do
  if ! ls "$CACHE/debs/${pkg}"_*.deb >/dev/null 2>&1; then
    apt-get download "$pkg" >/dev/null 2>&1 || echo "warning: could not download $pkg" >&2
  fi
done
for deb in "$CACHE"/debs/*.deb; do
  [ -e "$deb" ] || continue
  name="$(basename "$deb" | cut -d_ -f1)"
  if [ ! -d "$CACHE/extract/$name" ]; then
    mkdir -p "$CACHE/extract/$name"
    dpkg-deb -x "$deb" "$CACHE/extract/$name"
  fi
done
echo "images cached under $CACHE/extract"
