import { open } from 'node:fs/promises';

/**
 * A fast path for the commonest input of a speech pipeline: a mono 16 kHz WAV needs no decoder
 * and no resampling, so it is read directly instead of through an ffmpeg process. Starting
 * Debian's ffmpeg costs about 130 ms of CPU before it decodes anything (`ffmpeg -version` alone),
 * more than the whole analysis of a 10 s clip. The samples are the ones ffmpeg would produce
 * (integer PCM scaled by 2^-(bits-1), float passed through), so scores do not change; anything
 * else — other rates, several channels, RF64, compressed WAV, odd headers — goes to ffmpeg.
 */
export interface SimpleWav {
  /** 'int' = integer PCM, 'float' = IEEE float. */
  encoding: 'int' | 'float';
  bits: 16 | 24 | 32;
  dataOffset: number;
  /** Bytes of sample data actually present (a truncated file is read as far as it goes). */
  dataBytes: number;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Parses the header of `file`; null when it is not a mono 16 kHz PCM/float WAV this path reads. */
export async function probeSimpleWav(file: string, sampleRate: number): Promise<SimpleWav | null> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(head, 0, head.length, 0);
    if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return null;
    let off = 12;
    let fmt: { format: number; channels: number; rate: number; bits: number; blockAlign: number } | null = null;
    while (off + 8 <= head.length) {
      const id = head.toString('latin1', off, off + 4);
      const chunkSize = head.readUInt32LE(off + 4);
      const body = off + 8;
      if (id === 'fmt ') {
        if (chunkSize < 16 || body + 16 > head.length) return null;
        let format = head.readUInt16LE(body);
        if (format === WAVE_FORMAT_EXTENSIBLE) {
          if (chunkSize < 40 || body + 26 > head.length) return null;
          format = head.readUInt16LE(body + 24); // first two bytes of the sub-format GUID
        }
        fmt = { format, channels: head.readUInt16LE(body + 2), rate: head.readUInt32LE(body + 4), blockAlign: head.readUInt16LE(body + 12), bits: head.readUInt16LE(body + 14) };
      } else if (id === 'data') {
        if (!fmt) return null;
        const intOk = fmt.format === WAVE_FORMAT_PCM && (fmt.bits === 16 || fmt.bits === 24 || fmt.bits === 32);
        const floatOk = fmt.format === WAVE_FORMAT_IEEE_FLOAT && fmt.bits === 32;
        if (!(intOk || floatOk) || fmt.channels !== 1 || fmt.rate !== sampleRate || fmt.blockAlign !== fmt.bits / 8) return null;
        const available = size - body;
        // 0 and 0xFFFFFFFF mark streamed WAVs whose length was never written back.
        const declared = chunkSize === 0 || chunkSize === 0xffffffff ? available : chunkSize;
        const dataBytes = Math.max(0, Math.min(declared, available));
        return { encoding: floatOk ? 'float' : 'int', bits: fmt.bits as 16 | 24 | 32, dataOffset: body, dataBytes: dataBytes - (dataBytes % fmt.blockAlign) };
      }
      off = body + chunkSize + (chunkSize % 2);
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** Yields float32 chunks of `chunkSamples` samples from frame `first` up to `last` (exclusive). */
export async function* readWavChunks(file: string, wav: SimpleWav, first: number, last: number, chunkSamples: number, signal?: AbortSignal): AsyncGenerator<Float32Array> {
  const bytesPer = wav.bits / 8;
  const total = wav.dataBytes / bytesPer;
  let pos = Math.max(0, Math.min(first, total));
  const end = Math.max(pos, Math.min(last, total));
  const fh = await open(file, 'r');
  try {
    const raw = Buffer.alloc(chunkSamples * bytesPer);
    while (pos < end) {
      if (signal?.aborted) throw new Error('aborted');
      const n = Math.min(chunkSamples, end - pos);
      const { bytesRead } = await fh.read(raw, 0, n * bytesPer, wav.dataOffset + pos * bytesPer);
      const got = Math.floor(bytesRead / bytesPer);
      if (got === 0) break;
      const out = new Float32Array(got);
      if (wav.encoding === 'float') {
        for (let i = 0; i < got; i++) { const v = raw.readFloatLE(i * 4); out[i] = Number.isFinite(v) ? v : 0; }
      } else if (wav.bits === 16) {
        for (let i = 0; i < got; i++) out[i] = raw.readInt16LE(i * 2) / 32768;
      } else if (wav.bits === 24) {
        for (let i = 0; i < got; i++) out[i] = raw.readIntLE(i * 3, 3) / 8388608;
      } else {
        for (let i = 0; i < got; i++) out[i] = raw.readInt32LE(i * 4) / 2147483648;
      }
      yield out;
      pos += got;
    }
  } finally {
    await fh.close();
  }
}
