#!/usr/bin/python3
"""Prints the high-band/speech-band energy ratio (dB) per channel chain on the TRAINING split,
the statistic the analyser (server/src/analysis/audio/bandwidth.ts) uses to route a chunk to
the narrowband model. Same computation: 512-point Hann frames every 1024 samples of a 2 s
chunk, energy 4.3-7.7 kHz over 0.3-3.4 kHz.

    /usr/bin/python3 training/audio/bandwidth_stats.py
"""
import re
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data" / "audio"
SR, N, HOP = 16000, 512, 1024
BIN = SR / N
LO = (round(300 / BIN), round(3400 / BIN))
HI = (round(4300 / BIN), round(7700 / BIN))
WIN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)


def ratio_db(chunk):
    frames = np.stack([chunk[s:s + N] for s in range(0, len(chunk) - N + 1, HOP)]) * WIN
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    sp = p[:, LO[0]:LO[1] + 1].sum()
    hi = p[:, HI[0]:HI[1] + 1].sum()
    return 10 * np.log10(hi / max(sp, 1e-30) + 1e-30)


def main():
    rows = {}
    for name in ("train", "train_nb"):
        f = DATA / f"{name}.npz"
        if not f.exists():
            continue
        d = np.load(f)
        for x, chain in zip(d["x"], d["chain"]):
            c = str(chain)
            family = "telephone" if name == "train_nb" else re.sub(r"(mp3|opus)[0-9]+$", r"\1", c)
            key = f"{name}:{family}"
            rows.setdefault(key, []).append(ratio_db(x[:2 * SR].astype(np.float64) / 32768))
    rows = {k: np.array(v) for k, v in rows.items()}
    narrow = np.concatenate([v for k, v in rows.items() if k.endswith((":band8k", ":gsm", ":telephone"))])
    wide = np.concatenate([v for k, v in rows.items() if not k.endswith((":band8k", ":gsm", ":telephone"))])
    print("routing threshold: share of wideband-chain chunks below it / telephone chunks above it")
    for t in range(-50, -29, 2):
        print(f"  {t:4d} dB  wideband below {np.mean(wide < t) * 100:6.2f}%  telephone above {np.mean(narrow >= t) * 100:6.2f}%")
    print(f"{'split:chain':24s} {'n':>6s} {'min':>7s} {'p1':>7s} {'p50':>7s} {'p99':>7s} {'max':>7s}")
    for k, v in sorted(rows.items()):
        v = np.array(v)
        print(f"{k:24s} {len(v):6d} {v.min():7.1f} {np.percentile(v, 1):7.1f} {np.median(v):7.1f} "
              f"{np.percentile(v, 99):7.1f} {v.max():7.1f}")


if __name__ == "__main__":
    main()
