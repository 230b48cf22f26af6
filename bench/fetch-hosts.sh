#!/usr/bin/env bash
# Fetches the host media for `npm run bench:watermark` into a gitignored cache:
# packaged photographs and recordings listed in /work/shared/data-sources.md, via
# `apt-get download` + `dpkg-deb -x` only. Nothing fetched here is ever committed.
# Usage: bench/fetch-hosts.sh [cache-dir]   (default: bench/data/watermark-hosts)
set -euo pipefail
CACHE="${1:-${DISCERN_WM_HOSTS:-bench/data/watermark-hosts}}"
mkdir -p "$CACHE/debs" "$CACHE/extract"
CACHE="$(cd "$CACHE" && pwd)"
AUDIO_PACKAGES=(asterisk-core-sounds-en-wav asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722
                asterisk-core-sounds-es-g722 asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722
                klettres-data alsa-utils)
IMAGE_PACKAGES=(plasma-workspace-wallpapers mate-backgrounds opencv-doc labelme-examples)
# Other tools in this repository may already hold the same .deb files; reuse them when present.
LOCAL_DEBS=(training/data/pkgs/debs data/image-cache/debs)
cd "$CACHE/debs"
for pkg in "${AUDIO_PACKAGES[@]}" "${IMAGE_PACKAGES[@]}"; do
  if ls "$CACHE/debs/${pkg}"_*.deb >/dev/null 2>&1; then continue; fi
  found=""
  for dir in "${LOCAL_DEBS[@]}"; do
    src="$(ls "$OLDPWD/$dir/${pkg}"_*.deb 2>/dev/null | head -n1 || true)"
    if [ -n "$src" ]; then cp "$src" "$CACHE/debs/"; found=1; break; fi
  done
  [ -n "$found" ] || apt-get download "$pkg" >/dev/null 2>&1 || echo "warning: could not download $pkg" >&2
done
for deb in "$CACHE"/debs/*.deb; do
  [ -e "$deb" ] || continue
  name="$(basename "$deb" | cut -d_ -f1)"
  if [ ! -d "$CACHE/extract/$name" ]; then
    mkdir -p "$CACHE/extract/$name"
    dpkg-deb -x "$deb" "$CACHE/extract/$name"
  fi
done
echo "watermark hosts cached under $CACHE/extract"
