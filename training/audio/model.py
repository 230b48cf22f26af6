"""LCNN-style detector with its feature front end inside the graph.

Raw 16 kHz mono float waveform [batch, samples] in; `score` (probability the chunk is synthetic),
`embedding` (penultimate layer) and, once `set_ood` was called, `ood_distance` (Mahalanobis
distance of the embedding to the training distribution, divided by sqrt(dim)) out.

Front end: 25 ms Hann window / 10 ms hop STFT (as a fixed convolution, so it exports to plain
ONNX Conv), power, 60 linearly spaced triangular filters over 0–8 kHz (LFCC-style, without the
DCT), log, mean removed per band over the chunk (cepstral-mean style: gain and fixed channel
colouring cancel out).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SR = 16000
N_FFT = 512
WIN = 400
HOP = 160
N_BANDS = 60


def linear_filterbank(n_bands=N_BANDS, n_fft=N_FFT, sr=SR):
    n_bins = n_fft // 2 + 1
    freqs = np.linspace(0, sr / 2, n_bins)
    edges = np.linspace(0, sr / 2, n_bands + 2)
    fb = np.zeros((n_bands, n_bins), np.float32)
    for i in range(n_bands):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[i] = np.maximum(0, np.minimum(up, down))
    return fb


# Noise-floor subtraction (0.6.0 experiment, off for 0.2.0): per band, the floor is the minimum
# over the chunk of the 5-frame moving average of band power (speech has pauses, so that is the
# background); ALPHA times it is subtracted, keeping at least BETA of the original power.
DENOISE_ALPHA = 1.5
DENOISE_BETA = 0.05


class FrontEnd(nn.Module):
    def __init__(self, denoise=False):
        super().__init__()
        self.denoise = denoise
        window = np.hanning(WIN + 1)[:-1].astype(np.float32)
        pad = (N_FFT - WIN) // 2
        w = np.zeros(N_FFT, np.float32)
        w[pad:pad + WIN] = window
        n = np.arange(N_FFT)
        k = np.arange(N_FFT // 2 + 1)[:, None]
        real = np.cos(2 * math.pi * k * n / N_FFT) * w
        imag = -np.sin(2 * math.pi * k * n / N_FFT) * w
        kernel = np.concatenate([real, imag])[:, None, :].astype(np.float32)
        self.register_buffer("kernel", torch.from_numpy(kernel))
        self.register_buffer("fb", torch.from_numpy(linear_filterbank()))
        self.register_buffer("window", torch.from_numpy(w))
        # torch.stft while training (fast); the identical convolution form for ONNX export.
        self.use_fft = True

    def forward(self, wave):  # [B, T]
        nb = N_FFT // 2 + 1
        if self.use_fft:
            spec = torch.stft(wave, N_FFT, hop_length=HOP, window=self.window, center=False, return_complex=True)
            power = spec.real ** 2 + spec.imag ** 2
        else:
            spec = F.conv1d(wave.unsqueeze(1), self.kernel, stride=HOP)  # [B, 2*257, frames]
            power = spec[:, :nb] ** 2 + spec[:, nb:] ** 2
        bands = torch.matmul(self.fb, power)  # [B, 60, frames]
        if self.denoise:
            floor = F.avg_pool1d(bands, 5, stride=1).amin(dim=2, keepdim=True)
            bands = torch.maximum(bands - DENOISE_ALPHA * floor, DENOISE_BETA * bands)
        logb = torch.log(bands + 1e-8)
        logb = logb - logb.mean(dim=2, keepdim=True)
        return logb.unsqueeze(1)  # [B, 1, 60, frames]


class MFM(nn.Module):
    """Max-feature-map: halves channels by an element-wise max (LCNN's activation)."""

    def forward(self, x):
        a, b = torch.chunk(x, 2, dim=1)
        return torch.max(a, b)


def block(cin, cout, k):
    return nn.Sequential(nn.Conv2d(cin, 2 * cout, k, padding=k // 2), MFM())


class LCNN(nn.Module):
    def __init__(self, emb_dim=64, denoise=False):
        super().__init__()
        self.front = FrontEnd(denoise)
        self.body = nn.Sequential(
            block(1, 12, 3), nn.MaxPool2d(2), nn.BatchNorm2d(12),
            block(12, 16, 3), nn.MaxPool2d(2), nn.BatchNorm2d(16),
            block(16, 24, 3), nn.MaxPool2d(2), nn.BatchNorm2d(24),
            block(24, 32, 3), nn.MaxPool2d((2, 1)), nn.BatchNorm2d(32),
        )
        freq_out = N_BANDS // 16  # 60 -> 3
        self.proj = nn.Linear(32 * freq_out * 2, emb_dim)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(emb_dim, 1)
        self.emb_dim = emb_dim
        self.register_buffer("ood_mean", torch.zeros(emb_dim))
        self.register_buffer("ood_prec_chol", torch.eye(emb_dim))
        # Added to the logit in the exported graph only: lets a companion model (narrowband) put
        # its equal-error point at the same probability as the main model, so chunk scores of
        # both can be averaged against one threshold.
        self.register_buffer("logit_bias", torch.zeros(()))
        self.export_ood = False

    def set_ood(self, mean: np.ndarray, precision: np.ndarray):
        self.ood_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        self.ood_prec_chol.copy_(torch.from_numpy(np.linalg.cholesky(precision).astype(np.float32)))
        self.export_ood = True

    def embed(self, wave):
        h = self.body(self.front(wave))  # [B, C, F', T']
        b, c, f, t = h.shape
        h = h.reshape(b, c * f, t)
        stats = torch.cat([h.mean(dim=2), h.std(dim=2)], dim=1)
        return self.proj(stats)

    def forward(self, wave):
        emb = self.embed(wave)
        logit = self.head(self.drop(F.relu(emb))).squeeze(1)
        if not self.export_ood:
            return logit, emb
        score = torch.sigmoid(logit + self.logit_bias)
        z = torch.matmul(emb - self.ood_mean, self.ood_prec_chol)
        dist = torch.sqrt((z * z).sum(dim=1) / self.emb_dim)
        return score, emb, dist
