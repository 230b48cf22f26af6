#!/bin/sh
# Downloads the Debian packages listed in /work/shared/data-sources.md (speech sections only)
# and unpacks them under training/data/pkgs/root. Nothing here is committed.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${DATA:-$HERE/../data}
mkdir -p "$DATA/pkgs/debs" "$DATA/pkgs/root"
cd "$DATA/pkgs/debs"
REAL="asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722
asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 asterisk-core-sounds-en-wav
klettres-data ktuberling-data kajongg hedgewars-data gcin-voice alsa-utils"
SYNTH="festival festvox-kallpc16k festvox-us-slt-hts festlex-cmu festlex-poslex festvox-kdlpc16k freetts"
for p in $REAL $SYNTH; do
  ls ${p}_*.deb >/dev/null 2>&1 || apt-get download "$p" || echo "WARN: could not download $p" >&2
done
for d in *.deb; do dpkg-deb -x "$d" "$DATA/pkgs/root"; done
echo "unpacked into $DATA/pkgs/root"
