#!/usr/bin/python3
"""Builds the telephone-band (narrowband) copy of the audio dataset for the narrowband model.

    nice -n 10 /usr/bin/python3 training/audio/make_narrowband.py

Reads training/data/audio/{train,val}.npz (written by build_dataset.py) and writes
{train,val}_nb.npz: every segment of both classes goes through one random telephone channel,
band-pass with random edges, then a narrowband codec at 8 kHz, decoded back to 16 kHz.

Why a separate model: a wideband detector leans on cues above 4 kHz that a phone line removes
(the 0.2.0 model's EER more than doubled under GSM). Mixing narrowband crops into one model's
training (0.3.0) cost wideband accuracy. The analyser therefore routes chunks whose energy above
4 kHz is negligible to a model that has only ever seen telephone-band audio.

The input segments already carry build_dataset.py's random channel (MP3, Opus, G.722, ...):
a telephone leg after that is a realistic double compression, and it is the same for both
classes. The split (train/val by source) is inherited unchanged.
"""
import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_dataset import SR, apply_chain_args  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
AUDIO = DATA / "audio"
TMP = DATA / "tmp_nb"

# (name, encoder arguments at 8 kHz, container/format name). All decoded back with ffmpeg.
TELEPHONE_CODECS = [
    ("gsm", ["-c:a", "libgsm", "-f", "gsm"], "gsm"),
    ("gsm_ms", ["-c:a", "libgsm_ms", "-f", "wav"], "wav"),
    ("mulaw", ["-c:a", "pcm_mulaw", "-f", "wav"], "wav"),
    ("alaw", ["-c:a", "pcm_alaw", "-f", "wav"], "wav"),
    ("g726_32k", ["-c:a", "g726", "-b:a", "32k", "-f", "wav"], "wav"),
    ("g726_24k", ["-c:a", "g726", "-b:a", "24k", "-f", "wav"], "wav"),
    ("g723_1", ["-c:a", "g723_1", "-b:a", "6300", "-f", "wav"], "wav"),
    ("pcm8k", ["-c:a", "pcm_s16le", "-f", "wav"], "wav"),
]
LOW_EDGES = [100, 200, 300, 400]
HIGH_EDGES = [3000, 3300, 3500, 3800]


def telephone_round_trip(x: np.ndarray, codec: tuple, lo: int, hi: int, tmpdir: Path) -> np.ndarray:
    name, enc, fmt = codec
    af = f"highpass=f={lo}:poles=2,lowpass=f={hi}:poles=2,aresample=8000"
    suffix = "gsm" if fmt == "gsm" else "wav"
    dec_in = ["-f", "gsm", "-ar", "8000"] if fmt == "gsm" else []
    return apply_chain_args(x, ["-af", af, "-ar", "8000", *enc], f"tel.{suffix}", dec_in, tmpdir)


def narrowband(x16: np.ndarray, rng: random.Random, tmpdir: Path):
    n = len(x16)
    draws = [(rng.randrange(len(TELEPHONE_CODECS)), rng.choice(LOW_EDGES), rng.choice(HIGH_EDGES)) for _ in range(n)]
    segs = x16.astype(np.float32) / 32768
    out = np.empty_like(segs)
    for key in sorted(set(draws)):
        idx = [i for i in range(n) if draws[i] == key]
        for s in range(0, len(idx), 150):
            part = idx[s:s + 150]
            y = telephone_round_trip(segs[part].reshape(-1), TELEPHONE_CODECS[key[0]], key[1], key[2], tmpdir)
            out[part] = y.reshape(len(part), segs.shape[1])
    peak = np.abs(out).max(axis=1, keepdims=True)
    out = np.where(peak > 0.999, out * (0.98 / np.maximum(peak, 1e-9)), out)
    names = [f"{TELEPHONE_CODECS[c][0]}_{lo}-{hi}" for c, lo, hi in draws]
    return (np.clip(out, -1, 1) * 32767).astype(np.int16), names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=4321)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    TMP.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        d = np.load(AUDIO / f"{split}.npz")
        x, names = narrowband(d["x"], rng, TMP)
        chain = np.array([f"{c}+{t}" for c, t in zip(d["chain"].tolist(), names)])
        np.savez(AUDIO / f"{split}_nb.npz", x=x, y=d["y"], group=d["group"], chain=chain)
        print(f"{split}_nb: {len(x)} segments ({int(d['y'].sum())} synthetic)", flush=True)


if __name__ == "__main__":
    main()
