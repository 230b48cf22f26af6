import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { extractMediaZip, ZipRefusedError } from './safe-zip.js';
import { buildZip, UNIX, unixMode, type ZipEntrySpec } from './testing/zip-writer.js';

let root: string;
let work: string; // each test's folder: zip file + dest + a sibling to catch escapes
let dest: string;
let n = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'discern-zip-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  work = join(root, `t${n++}`);
  dest = join(work, 'out', 'inner');
  mkdirSync(dest, { recursive: true });
});

const WAV = Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), Buffer.alloc(200, 3)]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 9)]);

const zipOf = (entries: ZipEntrySpec[]): string => {
  const p = join(work, 'upload.zip');
  writeFileSync(p, buildZip(entries));
  return p;
};

/** Every file under `work` except the zip itself: nothing may appear outside dest. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() || d.isSymbolicLink())
    .map((d) => join(d.parentPath, d.name))
    .filter((p) => !p.endsWith('upload.zip'));

const refused = async (zipPath: string, message: string | RegExp, opts = {}) => {
  const err = await extractMediaZip(zipPath, dest, opts).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ZipRefusedError);
  if (typeof message === 'string') expect((err as Error).message).toContain(message);
  else expect((err as Error).message).toMatch(message);
  expect(filesUnder(work)).toEqual([]);
};

describe('extractMediaZip: accepted archives', () => {
  it('extracts media, flattens folders, skips clutter and keeps original names', async () => {
    const z = zipOf([
      { name: 'calls/' },
      { name: 'calls/monday/a.wav', data: WAV },
      { name: 'pics/b.PNG', data: PNG, method: 0 },
      { name: '__MACOSX/calls/._a.wav', data: Buffer.alloc(10) },
      { name: 'calls/._a.wav', data: Buffer.alloc(10) },
      { name: '.DS_Store', data: Buffer.alloc(10) },
      { name: 'README.txt', data: Buffer.from('hello') },
    ]);
    const out = await extractMediaZip(z, dest);
    expect(out.map((f) => [f.name, f.originalName, f.bytes])).toEqual([
      ['a.wav', 'calls/monday/a.wav', WAV.length],
      ['b.png', 'pics/b.PNG', PNG.length],
    ]);
    expect(readFileSync(join(dest, 'a.wav')).equals(WAV)).toBe(true);
    expect(readFileSync(out[1]!.path).equals(PNG)).toBe(true);
    expect(readdirSync(dest).sort()).toEqual(['a.wav', 'b.png']);
  });

  it('gives colliding names distinct, case-insensitively unique names', async () => {
    const z = zipOf([
      { name: 'a/x.wav', data: WAV },
      { name: 'b/x.wav', data: WAV },
      { name: 'c/X.wav', data: WAV },
    ]);
    const out = await extractMediaZip(z, dest);
    expect(out.map((f) => f.name)).toEqual(['x.wav', 'x-2.wav', 'X-3.wav']);
  });

  it('sanitises odd but harmless names', async () => {
    const z = zipOf([
      { name: 'dir/..hidden.wav', data: WAV },
      { name: 'dir/a:b?.wav', data: WAV },
      { name: 'dir/\u00e9t\u00e9.mp3', data: WAV },
    ]);
    const out = await extractMediaZip(z, dest);
    expect(out.map((f) => f.name)).toEqual(['hidden.wav', 'a_b_.wav', '\u00e9t\u00e9.mp3']);
  });

  it('accepts exactly maxEntries media files', async () => {
    const z = zipOf(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}.wav`, data: WAV })));
    await expect(extractMediaZip(z, dest, { maxEntries: 5 })).resolves.toHaveLength(5);
  });

  it('reads archives made by the zip tool', async () => {
    const src = join(work, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'clip.wav'), WAV);
    writeFileSync(join(src, 'image.png'), PNG);
    writeFileSync(join(src, 'notes.txt'), 'x');
    const z = join(work, 'upload.zip');
    execFileSync('zip', ['-q', '-r', z, '.'], { cwd: src });
    rmSync(src, { recursive: true });
    const out = await extractMediaZip(z, dest);
    expect(out.map((f) => f.originalName).sort()).toEqual(['image.png', 'sub/clip.wav']);
  });
});

describe('extractMediaZip: hostile archives', () => {
  it.each([
    ['../evil.wav', 'points outside the archive folder'],
    ['a/../../evil.wav', 'points outside the archive folder'],
    ['ok/../../../../tmp/evil.wav', 'points outside the archive folder'],
    ['/etc/evil.wav', 'absolute path'],
    ['C:/evil.wav', 'drive letter'],
    ['c:evil.wav', 'drive letter'],
    ['..\\evil.wav', 'backslashes'],
    ['a\\b.wav', 'backslashes'],
    ['../', 'points outside'],
  ])('refuses entry name %j', async (name, message) => {
    await refused(zipOf([{ name: 'fine.wav', data: WAV }, { name, data: WAV }]), message);
  });

  it('refuses a NUL byte in a name', async () => {
    await refused(zipOf([{ name: Buffer.from('a.wav\0.txt', 'latin1'), data: WAV }]), 'NUL');
  });

  it('refuses symbolic links and special files', async () => {
    await refused(
      zipOf([{ name: 'link.wav', data: Buffer.from('/etc/passwd'), versionMadeBy: UNIX, externalAttrs: unixMode(0o120777) }]),
      'symbolic link ("link.wav")',
    );
    await refused(zipOf([{ name: 'fifo.wav', versionMadeBy: UNIX, externalAttrs: unixMode(0o010644) }]), 'special file');
    // A normal Unix file mode is fine.
    await expect(
      extractMediaZip(zipOf([{ name: 'ok.wav', data: WAV, versionMadeBy: UNIX, externalAttrs: unixMode(0o100644) }]), dest),
    ).resolves.toHaveLength(1);
  });

  it.each(['inner.zip', 'deep/more.7z', 'x.tar.gz', 'x.tgz', 'y.rar', 'z.tar'])('refuses nested archive %s', async (name) => {
    await refused(zipOf([{ name: 'a.wav', data: WAV }, { name, data: Buffer.from('PK\x03\x04') }]), 'nested archives are not accepted');
  });

  it('refuses encrypted entries', async () => {
    await refused(zipOf([{ name: 'secret.wav', data: WAV, method: 0, flags: 0x801 }]), 'encrypted');
  });

  it('refuses unknown compression methods', async () => {
    await refused(zipOf([{ name: 'a.wav', data: WAV, method: 14 }]), 'unsupported compression method (14)');
  });

  it('refuses too many media files', async () => {
    const entries = Array.from({ length: 51 }, (_, i) => ({ name: `f${i}.wav`, data: WAV }));
    await refused(zipOf(entries), 'more than 50 media files');
  });

  it('refuses archives with absurd numbers of entries up front', async () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({ name: `n${i}.txt`, data: Buffer.from('x') }));
    await refused(zipOf(entries), 'more than 20 entries that are not media', { maxSkippedEntries: 20, maxEntries: 50 });
    await refused(zipOf(entries), 'The zip has 30 entries', { maxSkippedEntries: 5, maxEntries: 5 });
  });

  it('refuses an honest large entry from its declared size, before inflating', async () => {
    const big = Buffer.alloc(5_000_000);
    await refused(zipOf([{ name: 'big.wav', data: big }]), 'is too large (5000000 bytes; the limit is 1000000)', {
      maxEntryBytes: 1_000_000,
    });
  });

  it('stops a zip bomb that lies about its size at the real byte limit', async () => {
    // 20 MB of zeros deflates to ~20 KB; the headers claim 1 KB.
    const bomb = Buffer.alloc(20_000_000);
    const z = zipOf([{ name: 'a.wav', data: WAV }, { name: 'bomb.wav', data: bomb, declaredSize: 1000 }]);
    expect(readFileSync(z).length).toBeLessThan(100_000);
    await refused(z, 'expands to more than 1000000 bytes (possible zip bomb)', { maxEntryBytes: 1_000_000, maxTotalBytes: 50_000_000 });
  });

  it('counts real bytes across entries against the total limit', async () => {
    const chunk = Buffer.alloc(400_000, 1);
    // Two honest entries, then one that lies: only the running count of real bytes catches it.
    const entries = [0, 1, 2].map((i) => ({ name: `c${i}.wav`, data: chunk, declaredSize: i === 2 ? 10 : undefined }));
    await refused(zipOf(entries), 'The zip expands to more than 1000000 bytes', { maxTotalBytes: 1_000_000 });
  });

  it('refuses entries whose size or checksum does not match the data', async () => {
    await refused(zipOf([{ name: 'a.wav', data: WAV, declaredSize: WAV.length + 5 }]), 'is corrupt (declared');
    await refused(zipOf([{ name: 'a.wav', data: WAV, crc: 12345 }]), 'checksum mismatch');
  });

  it('removes files already extracted when a later entry is refused', async () => {
    const z = zipOf([
      { name: 'one.wav', data: WAV },
      { name: 'two.wav', data: WAV },
      { name: '../three.wav', data: WAV },
    ]);
    await refused(z, 'points outside');
  });

  it('refuses archives with no media and files that are not zips', async () => {
    await refused(zipOf([{ name: 'notes.txt', data: Buffer.from('x') }]), 'contains no supported media files');
    const notZip = join(work, 'upload.zip');
    writeFileSync(notZip, WAV);
    await refused(notZip, 'not a readable zip archive');
    writeFileSync(notZip, '');
    await refused(notZip, 'not a readable zip archive');
  });

  it('refuses a truncated archive', async () => {
    const full = buildZip([{ name: 'a.wav', data: Buffer.alloc(50_000, 7) }]);
    const p = join(work, 'upload.zip');
    // Keep the central directory but cut the entry data short.
    writeFileSync(p, Buffer.concat([full.subarray(0, 60), full.subarray(full.length - 100)]));
    await refused(p, /zip/);
  });

  it('honours a custom extension allow-list', async () => {
    const z = zipOf([{ name: 'a.wav', data: WAV }, { name: 'b.png', data: PNG }]);
    const out = await extractMediaZip(z, dest, { allowedExtensions: ['.png'] });
    expect(out.map((f) => f.name)).toEqual(['b.png']);
  });
});
