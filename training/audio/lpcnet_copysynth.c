/*
 * LPCNet copy-synthesis: reads 16 kHz mono s16le PCM on stdin, encodes each frame with
 * libcodec2's LPCNet FreeDV encoder and re-synthesises it with the neural LPCNet decoder,
 * writing s16le PCM on stdout. The output is entirely vocoder-generated speech.
 * Build: cc -O2 -o lpcnet_copysynth lpcnet_copysynth.c -lcodec2
 */
#include <stdio.h>
#include <stdlib.h>
#include <codec2/lpcnet_freedv.h>

int main(void) {
    LPCNetFreeDV *enc = lpcnet_freedv_create(LPCNET_DIRECT_SPLIT);
    LPCNetFreeDV *dec = lpcnet_freedv_create(LPCNET_DIRECT_SPLIT);
    if (!enc || !dec) { fprintf(stderr, "lpcnet_freedv_create failed\n"); return 1; }
    int n = lpcnet_samples_per_frame(enc);
    int bits = lpcnet_bits_per_frame(enc);
    short *pcm = calloc((size_t)n, sizeof(short));
    short *out = calloc((size_t)n, sizeof(short));
    char *frame = calloc((size_t)bits, 1);
    size_t got;
    while ((got = fread(pcm, sizeof(short), (size_t)n, stdin)) > 0) {
        for (size_t i = got; i < (size_t)n; i++) pcm[i] = 0;
        lpcnet_enc(enc, pcm, frame);
        lpcnet_dec(dec, frame, out);
        fwrite(out, sizeof(short), (size_t)n, stdout);
    }
    free(pcm); free(out); free(frame);
    lpcnet_freedv_destroy(enc);
    lpcnet_freedv_destroy(dec);
    return 0;
}
