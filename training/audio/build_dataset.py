#!/usr/bin/python3
"""Builds the audio deepfake training/validation set from the sources in
/work/shared/data-sources.md only.

    training/audio/fetch_sources.sh            # apt-get download + dpkg-deb -x (once)
    /usr/bin/python3 training/audio/build_dataset.py [--scale 1.0]

Output (training/data/audio/, not committed):
    train.npz / val.npz   int16 segments [N, 64000] (4 s at 16 kHz), label (1 = synthetic),
                          group (source/speaker or engine/voice), chain (channel applied)
    val/<label>/<group>__<i>.wav + val.csv   the same validation segments as files (for eval:audio)

Splits are by source, never by clip: held-out speakers (real) and held-out engines (synthetic)
are listed in VAL_* below. Both classes go through the identical preprocessing: 16 kHz, silence
trim, utterances of one group concatenated to 4 s, random level, low noise floor, and one random
channel chain (none / 8 kHz band-limit / GSM / G.722 / MP3 / Opus) applied with ffmpeg.
"""
import argparse
import csv
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import texts  # noqa: E402

SR = 16000
SEG = 4 * SR
HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("DATA", HERE.parent / "data"))
ROOT = DATA / "pkgs" / "root"
SHARE = ROOT / "usr" / "share"
OUT = DATA / "audio"
TMP = DATA / "tmp"
LPCNET = DATA / "bin" / "lpcnet_copysynth"

# Held-out (validation) speakers and engines. Everything else trains.
VAL_REAL = {
    "asterisk/it_IT_m_Carlo",
    "klettres/it", "klettres/nl", "klettres/cs", "klettres/pt_BR", "klettres/uk",
    "ktuberling/de", "ktuberling/it", "ktuberling/ru", "ktuberling/gl",
    "kajongg/female2", "kajongg/male2",
    "hedgewars/Pirate", "hedgewars/Mobster", "hedgewars/Default_ru", "hedgewars/Surfer",
}
VAL_ENGINES = {"festival", "freetts"}
# Effect-processed hedgewars packs (pitch/robot effects are not natural speech).
EXCLUDED_GROUPS = {"hedgewars/Robot"}

CHAINS = ["none", "band8k", "gsm", "g722", "mp3", "opus"]


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {p.stderr.decode(errors='replace')[-400:]}")
    return p.stdout


def decode(path: Path) -> np.ndarray:
    pre = ["-f", "g722"] if path.suffix == ".g722" else []
    raw = run(["ffmpeg", "-v", "error", "-nostdin", *pre, "-i", str(path), "-ac", "1", "-ar", str(SR),
               "-f", "f32le", "-"])
    return np.frombuffer(raw, dtype=np.float32).copy()


def trim(x: np.ndarray, top_db: float = 40.0) -> np.ndarray:
    """Cut leading/trailing frames quieter than max(-55 dBFS, loudest frame - top_db)."""
    if len(x) < 400:
        return x[:0]
    hop = 160
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    thr = max(-55.0, db.max() - top_db)
    idx = np.where(db > thr)[0]
    if len(idx) == 0:
        return x[:0]
    a = max(0, idx[0] - 2) * hop
    b = min(len(x), (idx[-1] + 3) * hop)
    return x[a:b]


# ---------------------------------------------------------------- real sources

def real_groups(rng):
    groups: dict[str, list[Path]] = {}

    def add(g, files):
        if g in EXCLUDED_GROUPS:
            return
        groups.setdefault(g, []).extend(sorted(files))

    ast = SHARE / "asterisk" / "sounds"
    for spk in sorted(os.listdir(ast)) if ast.exists() else []:
        add(f"asterisk/{spk}", [p for p in (ast / spk).rglob("*.g722") if "silence" not in p.parts])
    kl = SHARE / "klettres"
    for lang in sorted(os.listdir(kl)) if kl.exists() else []:
        if (kl / lang).is_dir() and lang not in ("icons", "pics"):
            add(f"klettres/{lang}", list((kl / lang).rglob("*.ogg")))
    kt = SHARE / "ktuberling" / "sounds"
    for lang in sorted(os.listdir(kt)) if kt.exists() else []:
        if (kt / lang).is_dir():
            add(f"ktuberling/{lang.split('@')[0]}", [p for p in (kt / lang).rglob("*") if p.suffix in (".ogg", ".wav")])
    kj = SHARE / "kajongg" / "voices"
    for v in sorted(os.listdir(kj)) if kj.exists() else []:
        if (kj / v).is_dir():
            add(f"kajongg/{v}", list((kj / v).rglob("*.ogg")))
    hw = SHARE / "games" / "hedgewars" / "Data" / "Sounds" / "voices"
    for v in sorted(os.listdir(hw)) if hw.exists() else []:
        add(f"hedgewars/{v}", list((hw / v).rglob("*.ogg")))
    gc = SHARE / "gcin-voice" / "ogg"
    if gc.exists():
        add("gcin/voice", list(gc.rglob("*.ogg")))
    al = SHARE / "sounds" / "alsa"
    if al.exists():
        add("alsa/speaker-test", [p for p in al.glob("*.wav") if p.name != "Noise.wav"])
    # Byte-identical duplicates (ktuberling has some) would leak between groups.
    seen = set()
    for g in list(groups):
        uniq = []
        for p in groups[g]:
            h = hashlib.md5(p.read_bytes()).hexdigest()
            if h not in seen:
                seen.add(h)
                uniq.append(p)
        rng.shuffle(uniq)
        groups[g] = uniq
    return groups


# ---------------------------------------------------------------- synthetic sources

def synth_espeak(rng, n, workdir):
    en_voices = ["en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan"]
    variants = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                "klatt3", "klatt4", "adam", "anika", "linda", "david", "max", "paul", "john", "grandma", "edward"]
    other = ["de", "fr-fr", "es", "it", "ru", "nl", "cs", "da", "pt-br", "cmn", "uk", "lt", "hu", "ca", "el"]
    jobs = []
    for i in range(n):
        if rng.random() < 0.6:
            voice = rng.choice(en_voices)
            text = texts.english_texts(rng, 1)[0]
        else:
            voice = rng.choice(other)
            lang = voice.split("-")[0]
            text = texts.digits_text(rng) if rng.random() < 0.6 else texts.letters_text(rng, lang)
        var = rng.choice(variants)
        v = voice + (f"+{var}" if var else "")
        out = workdir / f"espeak_{i}.wav"
        jobs.append((f"espeak-ng/{voice}",
                     ["espeak-ng", "-v", v, "-s", str(rng.randint(120, 200)), "-p", str(rng.randint(25, 75)),
                      "-w", str(out), text], out))
    return jobs


def synth_flite(rng, n, workdir):
    jobs = []
    for i in range(n):
        voice = rng.choice(["kal", "kal16", "awb", "rms", "slt"])
        out = workdir / f"flite_{i}.wav"
        jobs.append((f"flite/{voice}", ["flite", "-voice", voice, "-t", texts.english_texts(rng, 1)[0], "-o", str(out)], out))
    return jobs


def run_jobs(jobs):
    def one(job):
        g, cmd, out = job
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=True)
            return g, out
        except Exception:
            return None
    with ThreadPoolExecutor(2) as ex:
        return [r for r in ex.map(one, jobs) if r]


def synth_festival(rng, n, workdir):
    res = []
    for voice in ["kal_diphone", "cmu_us_slt_arctic_hts"]:
        lines = [f"(voice_{voice})"]
        outs = []
        for i, t in enumerate(texts.english_texts(rng, n)):
            out = workdir / f"fest_{voice}_{i}.wav"
            t = t.replace('"', "").replace("\\", "")
            lines.append(f'(utt.save.wave (SynthText "{t}") "{out}" (quote riff))')
            outs.append(out)
        script = workdir / f"fest_{voice}.scm"
        script.write_text("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1200)
        res += [(f"festival/{voice}", o) for o in outs if o.exists()]
    return res


def synth_freetts(rng, n, workdir):
    jars = SHARE / "java"
    cp = ":".join(str(jars / j) for j in ["freetts.jar", "en_us.jar", "cmu_us_kal.jar", "cmulex.jar"])
    jobs = []
    for i, t in enumerate(texts.english_texts(rng, n)):
        tf = workdir / f"freetts_{i}.txt"
        tf.write_text(t + "\n")
        out = workdir / f"freetts_{i}.wav"
        jobs.append(("freetts/kevin16", ["java", "-Xshare:auto", "-cp", cp, "com.sun.speech.freetts.FreeTTS", "-voice",
                                         "kevin16", "-dumpAudio", str(out), "-file", str(tf)], out))
    return [r for r in run_jobs(jobs) if r[1].exists() and r[1].stat().st_size > 1000]


def lpcnet(x: np.ndarray) -> np.ndarray:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    out = run([str(LPCNET)], stdin=pcm)
    return np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0


# ---------------------------------------------------------------- segments and channel

def make_segments(utts: list[np.ndarray], rng: np.random.Generator, max_segments: int) -> list[np.ndarray]:
    """Concatenate one group's trimmed utterances (with short gaps) into 4 s segments."""
    segs = []
    cur: list[np.ndarray] = []
    cur_len = 0
    for u in utts:
        if len(u) > 3 * SEG:
            u = u[: 3 * SEG]
        cur.append(u)
        cur_len += len(u)
        gap = int(rng.uniform(0.05, 0.3) * SR)
        cur.append(np.zeros(gap, np.float32))
        cur_len += gap
        while cur_len >= SEG:
            buf = np.concatenate(cur)
            segs.append(buf[:SEG])
            rest = buf[SEG:]
            cur, cur_len = ([rest], len(rest)) if len(rest) > 0.5 * SR else ([], 0)
            if len(segs) >= max_segments:
                return segs
    return segs


def level_and_floor(seg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rms = np.sqrt(np.mean(seg ** 2) + 1e-12)
    target = 10 ** (rng.uniform(-32, -18) / 20)
    y = seg * (target / rms)
    floor = 10 ** (rng.uniform(-72, -50) / 20)
    y = y + rng.standard_normal(len(y)).astype(np.float32) * floor
    peak = np.abs(y).max()
    if peak > 0.98:
        y *= 0.98 / peak
    return y.astype(np.float32)


def apply_chain(x: np.ndarray, chain: str, br: int, tmpdir: Path) -> np.ndarray:
    """One ffmpeg encode/decode round trip of a long concatenated signal; output aligned to x."""
    if chain == "none":
        return x
    if chain == "band8k":
        return apply_chain_args(x, ["-af", "aresample=8000,aresample=16000"], None, [], tmpdir)
    enc = {
        "gsm": (["-ar", "8000", "-c:a", "libgsm", "-f", "gsm"], "x.gsm", ["-f", "gsm", "-ar", "8000"]),
        "g722": (["-c:a", "g722", "-f", "g722"], "x.g722", ["-f", "g722"]),
        "mp3": (["-c:a", "libmp3lame", "-b:a", f"{br}k"], "x.mp3", []),
        "opus": (["-c:a", "libopus", "-b:a", f"{br}k"], "x.ogg", []),
    }[chain]
    return apply_chain_args(x, enc[0], enc[1], enc[2], tmpdir)


def apply_chain_args(x: np.ndarray, enc_args: list, encoded_name, dec_in_args: list, tmpdir: Path) -> np.ndarray:
    """Encodes x (16 kHz f32) with ffmpeg `enc_args` into `encoded_name` and decodes it back to
    16 kHz; with encoded_name None, `enc_args` is a filter applied in one pass. The output is
    aligned to x (codec delay removed by cross-correlation) and fitted to its length."""
    inp = tmpdir / "in.f32"
    x.astype("<f4").tofile(inp)
    base = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", str(inp)]
    dec_tail = ["-ac", "1", "-ar", str(SR), "-f", "f32le", "-"]
    if encoded_name is None:
        y = np.frombuffer(run(base + enc_args + dec_tail[2:]), np.float32)
    else:
        f = tmpdir / encoded_name
        run(base + enc_args + [str(f)])
        y = np.frombuffer(run(["ffmpeg", "-v", "error", "-nostdin", *dec_in_args, "-i", str(f)] + dec_tail), np.float32)
    # Align (codec delay) by cross-correlation on the first 8 s, then fit the length.
    n = min(len(x), len(y), 8 * SR)
    lag = 0
    if n > 4000:
        a = x[:n] - x[:n].mean()
        b = y[:n] - y[:n].mean()
        m = 1 << int(np.ceil(np.log2(2 * n)))
        c = np.fft.irfft(np.fft.rfft(b, m) * np.conj(np.fft.rfft(a, m)), m)
        c = np.concatenate([c[-800:], c[:801]])
        lag = int(np.argmax(c)) - 800
    if lag > 0:
        y = y[lag:]
    elif lag < 0:
        y = np.concatenate([np.zeros(-lag, np.float32), y])
    if len(y) < len(x):
        y = np.concatenate([y, np.zeros(len(x) - len(y), np.float32)])
    return np.ascontiguousarray(y[: len(x)], dtype=np.float32)


def channelize(segs: np.ndarray, rng: random.Random, tmpdir: Path):
    """Random channel per segment; segments sharing a chain are processed in one ffmpeg call."""
    n = len(segs)
    chains = [rng.choice(CHAINS) for _ in range(n)]
    brs = [rng.choice([32, 48, 64, 96, 128]) if c == "mp3" else rng.choice([12, 16, 24, 32, 48]) if c == "opus" else 0
           for c in chains]
    out = np.empty_like(segs)
    keys = sorted(set(zip(chains, brs)))
    for key in keys:
        idx = [i for i in range(n) if (chains[i], brs[i]) == key]
        for s in range(0, len(idx), 150):
            part = idx[s:s + 150]
            y = apply_chain(segs[part].reshape(-1), key[0], key[1], tmpdir)
            out[part] = y.reshape(len(part), SEG)
    peak = np.abs(out).max(axis=1, keepdims=True)
    out = np.where(peak > 0.999, out * (0.98 / np.maximum(peak, 1e-9)), out)
    return out, [f"{c}{b or ''}" for c, b in zip(chains, brs)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="multiply all sizes (0.2 = quick smoke build)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--max-per-group", type=int, default=160, help="segments per real speaker/group")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    nrng = np.random.default_rng(args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    if TMP.exists():
        shutil.rmtree(TMP)
    TMP.mkdir(parents=True)
    work = TMP / "synth"
    work.mkdir()
    S = args.scale
    max_seg = max(4, int(args.max_per_group * S))

    # (split, label, group, utterances)
    groups_out: list[tuple[str, int, str, list[np.ndarray]]] = []

    print("real sources…", flush=True)
    real = real_groups(rng)
    lp_sources = {"train": [], "val": []}
    for g, files in real.items():
        split = "val" if g in VAL_REAL else "train"
        utts, total = [], 0
        for p in files:
            try:
                u = trim(decode(p))
            except Exception as e:  # a broken file in a package is skipped, not fatal
                print(f"  skip {p}: {e}", file=sys.stderr)
                continue
            if len(u) < 0.25 * SR:
                continue
            utts.append(u)
            total += len(u)
            if total > max_seg * SEG * 1.1:
                break
        if utts:
            groups_out.append((split, 0, g, utts))
            lp_sources[split].append((g, utts))
            print(f"  {g:32s} {split:5s} {len(utts):5d} utts {total / SR / 60:6.1f} min", flush=True)

    print("synthetic: espeak-ng, flite…", flush=True)
    synth_files = run_jobs(synth_espeak(rng, int(1800 * S), work) + synth_flite(rng, int(700 * S), work))
    print("synthetic: festival, freetts (held-out engines)…", flush=True)
    synth_files += synth_festival(rng, int(160 * S), work)
    synth_files += synth_freetts(rng, int(120 * S), work)
    by_group: dict[str, list[np.ndarray]] = {}
    for g, f in synth_files:
        try:
            u = trim(decode(f))
        except Exception:
            continue
        if len(u) >= 0.25 * SR:
            by_group.setdefault(g, []).append(u)
    for g, utts in sorted(by_group.items()):
        engine = g.split("/")[0]
        split = "val" if engine in VAL_ENGINES else "train"
        groups_out.append((split, 1, g, utts))
        print(f"  {g:32s} {split:5s} {len(utts):5d} utts {sum(map(len, utts)) / SR / 60:6.1f} min", flush=True)

    print("synthetic: LPCNet copy-synthesis of real speech…", flush=True)
    lp_budget = {"train": int(800 * S) * SR, "val": int(300 * S) * SR}  # seconds of audio per split
    for split, items in lp_sources.items():
        pool = [(g, u) for g, utts in items for u in utts[:40]]
        rng.shuffle(pool)
        done, per = 0, {}
        for g, u in pool:
            if done > lp_budget[split]:
                break
            per.setdefault(g, []).append(lpcnet(u))
            done += len(u)
        for g, utts in per.items():
            groups_out.append((split, 1, f"lpcnet/{g}", utts))
        print(f"  lpcnet {split}: {done / SR / 60:.1f} min from {len(per)} speakers", flush=True)

    for split in ("train", "val"):
        segs, labels, names = [], [], []
        for sp, label, g, utts in groups_out:
            if sp != split:
                continue
            cap = max_seg if label == 0 else max_seg * 4
            for s in make_segments(utts, nrng, cap):
                segs.append(level_and_floor(s, nrng))
                labels.append(label)
                names.append(g)
        X = np.stack(segs)
        y = np.array(labels, np.int8)
        copies = 2 if split == "train" else 1
        Xs, chains_all = [], []
        for _ in range(copies):
            Xc, ch = channelize(X, rng, TMP)
            Xs.append(Xc)
            chains_all += ch
        Xall = np.concatenate(Xs)
        yall = np.tile(y, copies)
        gall = np.array(names * copies)
        np.savez(OUT / f"{split}.npz", x=(np.clip(Xall, -1, 1) * 32767).astype(np.int16), y=yall, group=gall,
                 chain=np.array(chains_all))
        print(f"{split}: {len(Xall)} segments, {int(yall.sum())} synthetic, {int((yall == 0).sum())} real", flush=True)
        if split == "val":
            vd = OUT / "val"
            if vd.exists():
                shutil.rmtree(vd)
            rows = []
            from scipy.io import wavfile
            for i, (x, lab, g, c) in enumerate(zip(Xall, yall, gall, chains_all)):
                d = vd / ("fake" if lab else "real")
                d.mkdir(parents=True, exist_ok=True)
                f = d / f"{g.replace('/', '_')}__{i}.wav"
                wavfile.write(f, SR, (np.clip(x, -1, 1) * 32767).astype(np.int16))
                rows.append({"file": str(f.relative_to(OUT)), "label": int(lab), "group": g, "chain": c})
            with open(OUT / "val.csv", "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=["file", "label", "group", "chain"])
                w.writeheader()
                w.writerows(rows)
    shutil.rmtree(TMP, ignore_errors=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
