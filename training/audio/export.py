#!/usr/bin/python3
"""Exports a trained checkpoint to models/audio-deepfake/{model.onnx,model.json}.

    /usr/bin/python3 training/audio/export.py [--ckpt training/data/ckpt/final.pt]

- fits the out-of-distribution statistics (mean / shrunk covariance of the penultimate
  embedding on training segments) and puts the Mahalanobis distance into the graph as a second
  output `ood_distance`; its limit is the 99th percentile on the held-out validation split;
- provisional decision threshold at the validation EER point (file score = mean of the two 2 s
  halves of each 4 s validation segment, like the analyser with frame_length 2). `npm run
  eval:audio -- --calibrate` later replaces threshold and error rates with figures measured
  through the TypeScript pipeline (VAD included);
- checks ONNX Runtime parity against PyTorch on validation audio.
"""
import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import LCNN, SR  # noqa: E402
from train import eer  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
REPO = HERE.parent.parent
OUTDIR = REPO / "models" / "audio-deepfake"

SOURCES = [
    {"name": "asterisk-core-sounds-{en,es,fr,it,ru}-g722 (Debian)", "licence": "CC-BY-SA-3.0 / CC-BY-3.0 (debian/copyright of asterisk-core-sounds-*)", "class": "real"},
    {"name": "klettres-data (Debian)", "licence": "GPL-2+ / LGPL-2 / CC0-1.0 per file (debian/copyright of klettres-data)", "class": "real"},
    {"name": "ktuberling-data (Debian)", "licence": "GPL-2+ / LGPL-2.1+ / CC-BY / CC0 per file (debian/copyright of ktuberling-data)", "class": "real"},
    {"name": "kajongg voices (Debian)", "licence": "GPL-2+ / GPL-2 / BSD-3-Clause / CC0-1.0 per file (debian/copyright of kajongg)", "class": "real"},
    {"name": "hedgewars-data voice packs except Robot (Debian)", "licence": "GPL-2 / CC-BY-SA-3.0 / GFDL-1.3 / BSD per file (debian/copyright of hedgewars-data)", "class": "real"},
    {"name": "gcin-voice (Debian)", "licence": "GPL-3 / LGPL-3 / CC-BY-3 per file (debian/copyright of gcin-voice)", "class": "real"},
    {"name": "alsa-utils speaker-test samples (Debian)", "licence": "GPL-2 / LGPL-2+ (debian/copyright of alsa-utils)", "class": "real"},
    {"name": "espeak-ng (Debian)", "licence": "GPL-3+", "class": "synthetic"},
    {"name": "flite kal/kal16/awb/rms/slt (Debian)", "licence": "BSD-like (CMU)", "class": "synthetic"},
    {"name": "Festival kal_diphone + cmu_us_slt_arctic_hts (Debian) — validation only", "licence": "X11-style (festival) / BSD-3-clause, EST (festvox-us-slt-hts, festvox-kallpc16k)", "class": "synthetic"},
    {"name": "FreeTTS kevin16 (Debian) — validation only", "licence": "BSD-style (Sun; debian/copyright of freetts)", "class": "synthetic"},
    {"name": "LPCNet copy-synthesis via libcodec2 lpcnet_freedv (Debian)", "licence": "LGPL-2.1 / BSD (LPCNet)", "class": "synthetic"},
]


@torch.no_grad()
def embeddings_and_scores(model, x, length, bs=128, offset=None):
    embs, logits = [], []
    for i in range(0, len(x), bs):
        seg = x[i:i + bs].astype(np.float32) / 32768
        st = (seg.shape[1] - length) // 2 if offset is None else offset
        xb = torch.from_numpy(np.ascontiguousarray(seg[:, st:st + length]))
        lo, e = model(xb)
        embs.append(e.numpy())
        logits.append(lo.numpy())
    return np.concatenate(embs), np.concatenate(logits)


def roc_auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=str(DATA / "ckpt" / "final.pt"))
    ap.add_argument("--version", default="0.1.0")
    ap.add_argument("--outdir", default=str(OUTDIR), help="model folder to write (default models/audio-deepfake)")
    ap.add_argument("--data-suffix", default="", help="train{suffix}.npz / val{suffix}.npz (\"_nb\" for the narrowband model)")
    ap.add_argument("--name", default="discern-audio-lcnn")
    ap.add_argument("--bandwidth", choices=["wideband", "narrowband"], default="wideband",
                    help="narrowband: a companion model the analyser uses for telephone-band chunks")
    ap.add_argument("--companion-of", default=None,
                    help="narrowband only: name of the main model whose threshold this one is aligned to")
    ap.add_argument("--align-to", type=float, default=None,
                    help="narrowband only: shift the logit so the validation EER point lands at this probability "
                         "(the main model's threshold), so chunk scores of both models share one threshold")
    ap.add_argument("--denoise", action="store_true", help="the checkpoint was trained with train.py --denoise")
    args = ap.parse_args()
    torch.set_num_threads(2)
    state = torch.load(args.ckpt, map_location="cpu")
    model = LCNN(denoise=args.denoise)
    model.load_state_dict(state["model"], strict=False)
    model.eval()
    tr = np.load(DATA / "audio" / f"train{args.data_suffix}.npz")
    va = np.load(DATA / "audio" / f"val{args.data_suffix}.npz")
    rng = np.random.default_rng(0)
    sub = rng.choice(len(tr["x"]), size=min(3000, len(tr["x"])), replace=False)
    emb_tr, _ = embeddings_and_scores(model, tr["x"][np.sort(sub)], 2 * SR)
    mean = emb_tr.mean(0)
    cov = np.cov(emb_tr, rowvar=False)
    cov = 0.9 * cov + 0.1 * np.eye(len(mean)) * np.trace(cov) / len(mean)
    precision = np.linalg.inv(cov)

    # Validation: the two halves of each 4 s segment, as the analyser would chunk it.
    yv = va["y"].astype(np.int64)
    e1, l1 = embeddings_and_scores(model, va["x"], 2 * SR, offset=0)
    e2, l2 = embeddings_and_scores(model, va["x"], 2 * SR, offset=2 * SR)
    def file_scores(bias):
        return (1 / (1 + np.exp(-(l1 + bias))) + 1 / (1 + np.exp(-(l2 + bias)))) / 2

    bias = 0.0
    if args.align_to is not None:
        # The EER threshold of the mean chunk probability rises monotonically with the bias.
        lo, hi = -30.0, 30.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if eer(file_scores(mid), yv)[1] < args.align_to:
                lo = mid
            else:
                hi = mid
        bias = (lo + hi) / 2
        print(f"logit bias {bias:.4f} puts the validation EER point at {eer(file_scores(bias), yv)[1]:.4f}")
    p = file_scores(bias)
    val_eer, thr = eer(p, yv)
    if args.align_to is not None:
        thr = args.align_to
    fpr = float(((p >= thr) & (yv == 0)).sum() / (yv == 0).sum())
    fnr = float(((p < thr) & (yv == 1)).sum() / (yv == 1).sum())
    auc = roc_auc(p, yv)

    def maha(e):
        d = e - mean
        return np.sqrt(np.einsum("ij,jk,ik->i", d, precision, d) / len(mean))

    dist_val = (maha(e1) + maha(e2)) / 2
    ood_thr = float(np.percentile(dist_val, 99))
    print(f"val EER {val_eer * 100:.2f}% thr {thr:.4f} FPR {fpr:.4f} FNR {fnr:.4f} AUC {auc:.4f} ood99 {ood_thr:.3f}")

    model.set_ood(mean, precision)
    model.logit_bias.fill_(bias)
    model.front.use_fft = False
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    onnx_path = outdir / "model.onnx"
    dummy = torch.zeros(2, 2 * SR)
    torch.onnx.export(model, dummy, str(onnx_path), input_names=["waveform"],
                      output_names=["score", "embedding", "ood_distance"],
                      dynamic_axes={"waveform": {0: "batch", 1: "samples"}, "score": {0: "batch"},
                                    "embedding": {0: "batch"}, "ood_distance": {0: "batch"}},
                      opset_version=17, do_constant_folding=True)

    # Parity: onnxruntime is not in Debian's python; the TypeScript test suite and eval run the
    # graph with onnxruntime-node. Here we check the exported graph with onnx's reference checker
    # and compare PyTorch's conv front end against its FFT front end used during training.
    import onnx
    onnx.checker.check_model(onnx.load(str(onnx_path)))
    xb = torch.from_numpy(va["x"][:16, :2 * SR].astype(np.float32) / 32768)
    with torch.no_grad():
        s_conv, _, _ = model(xb)
        model.front.use_fft = True
        s_fft, _, _ = model(xb)
        model.front.use_fft = False
    parity = float((s_conv - s_fft).abs().max())
    print(f"front-end parity (conv vs fft) max |d score| = {parity:.2e}")
    np.save(DATA / f"parity_{args.version}_input.npy", xb.numpy())
    np.save(DATA / f"parity_{args.version}_scores.npy", s_conv.numpy())

    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    groups = sorted(set(va["group"].tolist()))
    manifest = {
        "name": args.name,
        "version": args.version,
        "task": "audio-deepfake",
        "file": "model.onnx",
        "sha256": sha,
        "input": {
            "name": "waveform",
            "shape": [-1, -1],
            "layout": "batch x samples: mono float32 PCM in [-1, 1], one frame_length chunk per row",
            "sample_rate": SR,
            "min_samples": 8000,
            "preprocessing": "none outside the graph: STFT (25 ms Hann, 10 ms hop), 60 linear bands 0-8 kHz, log, per-chunk band mean removal are inside",
        },
        "output": {"name": "score", "meaning": "probability that the chunk is synthetic speech (higher = more likely synthetic)"},
        "threshold": float(thr),
        "metrics": {"eer": val_eer, "false_positive_rate": fpr, "false_negative_rate": fnr, "roc_auc": auc,
                    "measured_by": "training/audio/export.py (PyTorch, no VAD); replace with npm run eval:audio -- --calibrate"},
        "calibration": "held-out validation split of training/audio/build_dataset.py: unseen speakers (" +
                       ", ".join(g for g in groups if not g.startswith(("festival", "freetts", "lpcnet"))) +
                       ") and unseen engines (Festival, FreeTTS) plus LPCNet copy-synthesis of the unseen speakers; "
                       "threshold at the equal-error-rate point",
        "ood": {"output": "ood_distance", "threshold": ood_thr,
                "calibration": "Mahalanobis distance of the 64-d penultimate embedding to training segments, / sqrt(64); "
                               "threshold = 99th percentile on the validation split"},
        "data_sources": SOURCES,
        "licence": "Apache-2.0",
        "card": "docs/models/audio-deepfake.md",
        "bandwidth": args.bandwidth,
        "training": {"epochs": int(state.get("epoch", -1)) + 1, "params": int(sum(p.numel() for p in model.parameters())),
                     "script": "training/audio/train.py"},
    }
    if args.bandwidth == "narrowband":
        manifest["companion_of"] = args.companion_of or "discern-audio-lcnn"
        manifest["logit_bias"] = bias
        manifest["calibration"] = ("telephone-band copy (make_narrowband.py: random band-pass + GSM / G.711 / G.726 / "
                                   "G.723.1 / 8 kHz PCM) of " + manifest["calibration"] +
                                   "; logit shifted so that point sits at the main model's threshold")
        manifest["data_sources"] = SOURCES + [{"name": "ffmpeg telephone codecs (channel simulation, not a source)",
                                               "licence": "LGPL-2.1+ (ffmpeg)", "class": "channel"}]
    (outdir / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB) sha256 {sha}")


if __name__ == "__main__":
    main()
