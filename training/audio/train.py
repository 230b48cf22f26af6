#!/usr/bin/python3
"""Trains the LCNN detector on training/data/audio/train.npz (CPU, resumable).

    nice -n 10 /usr/bin/python3 training/audio/train.py --epochs 14 --threads 2

Checkpoints every epoch to training/data/ckpt/last.pt and resumes from it. The validation
split is only *reported* each epoch (the final epoch is kept, no selection on validation).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model import LCNN, SR

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"


def eer(scores, labels):
    order = np.argsort(-scores)
    s, y = scores[order], labels[order]
    pos, neg = y.sum(), len(y) - y.sum()
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    fnr = 1 - tp / pos
    fpr = fp / neg
    i = np.argmin(np.abs(fnr - fpr))
    return float((fnr[i] + fpr[i]) / 2), float(s[i])


TELEPHONE_AUG = False
# Additive-noise augmentation: share of crops, SNR range (dB) and share of those that get white
# (rather than brown) noise. Defaults are the 0.2.0 recipe.
NOISE_SHARE = 0.35
NOISE_SNR = (5.0, 40.0)
NOISE_WHITE_SHARE = 0.5


def augment(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    b, t = batch.shape
    noise = torch.randn(b, t)
    brown = torch.from_numpy(rng.random(b) >= NOISE_WHITE_SHARE)
    bn = torch.cumsum(noise, 1)
    bn = bn - bn.mean(dim=1, keepdim=True)
    noise = torch.where(brown[:, None], bn, noise)
    p = batch.pow(2).mean(dim=1, keepdim=True).clamp_min(1e-10)
    snr = torch.from_numpy(rng.uniform(NOISE_SNR[0], NOISE_SNR[1], b).astype(np.float32))[:, None]
    noise = noise * torch.sqrt(p / noise.pow(2).mean(dim=1, keepdim=True).clamp_min(1e-10) / 10 ** (snr / 10))
    use = torch.from_numpy(rng.random(b) < NOISE_SHARE)[:, None]  # stationary noise (0.2.0: 35% at 5–40 dB)
    out = torch.where(use, batch + noise, batch)
    # Telephone band (300-3400 Hz style, random edges) on 25% of crops, both classes alike.
    tel = (rng.random(b) < 0.25) if TELEPHONE_AUG else np.zeros(b, dtype=bool)
    if tel.any():
        spec = torch.fft.rfft(out[torch.from_numpy(tel)], dim=1)
        freqs = torch.fft.rfftfreq(t, 1 / 16000)
        lo = torch.from_numpy(rng.uniform(150, 400, int(tel.sum())).astype(np.float32))[:, None]
        hi = torch.from_numpy(rng.uniform(3000, 4000, int(tel.sum())).astype(np.float32))[:, None]
        mask = ((freqs[None, :] >= lo) & (freqs[None, :] <= hi)).float()
        out[torch.from_numpy(tel)] = torch.fft.irfft(spec * mask, n=t, dim=1)
    sign = torch.from_numpy(np.where(rng.random(b) < 0.5, -1.0, 1.0).astype(np.float32))[:, None]
    gain = torch.from_numpy((10 ** (rng.uniform(-12, 6, b) / 20)).astype(np.float32))[:, None]
    return out * sign * gain


def crops(x: np.ndarray, length: int, rng, center=False):
    seg = x.shape[1]
    if center:
        st = np.full(len(x), (seg - length) // 2)
    else:
        st = rng.integers(0, seg - length + 1, len(x))
    return np.stack([x[i, s:s + length] for i, s in enumerate(st)])


@torch.no_grad()
def evaluate(model, x, y, length=2 * SR, bs=128):
    model.eval()
    scores = []
    for i in range(0, len(x), bs):
        xb = torch.from_numpy(crops(x[i:i + bs], length, None, center=True).astype(np.float32) / 32768)
        logit, _ = model(xb)
        scores.append(logit.numpy())
    s = np.concatenate(scores)
    return eer(s, y.astype(np.float64))[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bs", type=int, default=48)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--out", default=str(DATA / "ckpt"))
    ap.add_argument("--data-suffix", default="",
                    help="read train{suffix}.npz / val{suffix}.npz (\"_nb\": the telephone-band copy from make_narrowband.py)")
    ap.add_argument("--mix-suffix", default=None,
                    help="also train on a share of train{suffix}.npz (e.g. _nb, the telephone-band copy)")
    ap.add_argument("--mix-share", type=float, default=0.33, help="share of the --mix-suffix segments added")
    ap.add_argument("--telephone-aug", action="store_true",
                    help="band-pass 25%% of crops to a random telephone band (tried for 0.3.0; not in the shipped 0.2.0)")
    ap.add_argument("--denoise", action="store_true", help="noise-floor subtraction in the front end (model.py; tried for 0.6.0)")
    ap.add_argument("--noise-share", type=float, default=0.35, help="share of crops with additive noise")
    ap.add_argument("--noise-snr", default="5,40", help="SNR range in dB of the additive noise, lo,hi")
    ap.add_argument("--seed", type=int, default=0, help="initialisation and sampling seed (0 = the shipped models' runs)")
    ap.add_argument("--noise-white-share", type=float, default=0.5, help="share of noisy crops with white (not brown) noise")
    args = ap.parse_args()
    global TELEPHONE_AUG, NOISE_SHARE, NOISE_SNR, NOISE_WHITE_SHARE
    TELEPHONE_AUG = args.telephone_aug
    NOISE_SHARE = args.noise_share
    NOISE_SNR = tuple(float(v) for v in args.noise_snr.split(","))
    NOISE_WHITE_SHARE = args.noise_white_share
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tr = np.load(DATA / "audio" / f"train{args.data_suffix}.npz")
    va = np.load(DATA / "audio" / f"val{args.data_suffix}.npz")
    xtr, ytr = tr["x"], tr["y"].astype(np.float32)
    if args.mix_suffix:
        mx = np.load(DATA / "audio" / f"train{args.mix_suffix}.npz")
        pick = np.sort(np.random.default_rng(7).choice(len(mx["x"]), int(len(mx["x"]) * args.mix_share), replace=False))
        xtr = np.concatenate([xtr, mx["x"][pick]])
        ytr = np.concatenate([ytr, mx["y"][pick].astype(np.float32)])
    xva, yva = va["x"], va["y"]
    pos_weight = torch.tensor((ytr == 0).sum() / max(1, (ytr == 1).sum()))
    print(f"train {len(xtr)} ({int(ytr.sum())} fake), val {len(xva)} ({int(yva.sum())} fake), pos_weight {float(pos_weight):.2f}",
          flush=True)

    model = LCNN(denoise=args.denoise)
    print("params", sum(p.numel() for p in model.parameters()), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    steps_per_epoch = len(xtr) // args.bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.15)
    start = 0
    ck = out / "last.pt"
    if ck.exists():
        state = torch.load(ck, map_location="cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["epoch"] + 1
        rng = np.random.default_rng(start if args.seed == 0 else (args.seed, start))
        print(f"resumed at epoch {start}", flush=True)
    lengths = [16000, 24000, 32000, 32000, 32000, 48000]
    for epoch in range(start, args.epochs):
        model.train()
        t0 = time.time()
        perm = rng.permutation(len(xtr))
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = np.sort(perm[s * args.bs:(s + 1) * args.bs])
            L = int(rng.choice(lengths))
            xb = torch.from_numpy(crops(xtr[idx], L, rng).astype(np.float32) / 32768)
            xb = augment(xb, rng)
            yb = torch.from_numpy(ytr[idx])
            logit, _ = model(xb)
            loss = F.binary_cross_entropy_with_logits(logit, yb, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss)
            if s % 50 == 0:
                print(f"  epoch {epoch} step {s}/{steps_per_epoch} loss {tot / (s + 1):.4f} {time.time() - t0:.0f}s", flush=True)
        val_eer = evaluate(model, xva, yva)
        print(f"epoch {epoch} loss {tot / steps_per_epoch:.4f} val_eer {val_eer * 100:.2f}% {time.time() - t0:.0f}s", flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch}, ck)
        with open(out / "history.jsonl", "a") as fh:
            fh.write(json.dumps({"epoch": epoch, "loss": tot / steps_per_epoch, "val_eer": val_eer}) + "\n")
    torch.save({"model": model.state_dict(), "epoch": args.epochs - 1}, out / "final.pt")
    print("done", flush=True)


if __name__ == "__main__":
    main()
