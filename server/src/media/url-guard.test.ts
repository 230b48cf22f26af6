import { describe, expect, it } from 'vitest';
import { assertPublicUrl, classifyAddress, parseIPv6, UrlRefusedError } from './url-guard.js';

/** A resolver that must never be reached: the cases below are decided before any lookup. */
const noResolver = async (): Promise<string[]> => {
  throw new Error('resolver must not be called');
};

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified ("this network")'],
    ['0.1.2.3', 'unspecified ("this network")'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['198.18.0.1', 'reserved (benchmarking)'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private (unique local)'],
    ['fd12:3456::1', 'private (unique local)'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::127.0.0.1', 'reserved (IPv4-compatible IPv6)'],
    ['64:ff9b::10.0.0.1', 'private (via NAT64)'],
    ['2002:7f00:1::', 'loopback (via 6to4)'],
    ['2001:db8::1', 'documentation'],
    ['2001:0:4136:e378::1', 'reserved (Teredo)'],
    ['100::1', 'reserved'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.253.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBeNull();
    },
  );

  it('fails closed on garbage', () => {
    expect(classifyAddress('not-an-ip')).not.toBeNull();
    expect(classifyAddress('1.2.3')).not.toBeNull();
  });

  it('parses IPv6 forms to the same bytes', () => {
    expect(parseIPv6('::ffff:127.0.0.1')).toEqual(parseIPv6('0:0:0:0:0:ffff:7f00:0001'));
    expect(parseIPv6('[::1]')).toEqual([...new Array(15).fill(0), 1]);
    expect(parseIPv6('1::2::3')).toBeNull();
    expect(parseIPv6('1:2:3:4:5:6:7:8:9')).toBeNull();
    expect(parseIPv6('12345::')).toBeNull();
  });
});

describe('assertPublicUrl', () => {
  it.each([
    ['http://127.0.0.1/x', 'loopback address (127.0.0.1)'],
    ['http://2130706433/', 'loopback address (127.0.0.1)'], // decimal
    ['http://0x7f000001/', 'loopback address (127.0.0.1)'], // hex
    ['http://0177.0.0.1/', 'loopback address (127.0.0.1)'], // octal
    ['http://0x7f.1/', 'loopback address (127.0.0.1)'], // short form
    ['http://127.1/', 'loopback address (127.0.0.1)'],
    ['http://127.0.0.1./', 'loopback address (127.0.0.1)'], // trailing dot
    ['http://127.000.000.001/', 'loopback address (127.0.0.1)'],
    ['http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/', 'loopback address (127.0.0.1)'], // full-width digits
    ['http://2852039166/', 'link-local address (169.254.169.254)'], // metadata, decimal
    ['http://0/', 'unspecified ("this network") address (0.0.0.0)'],
    ['http://[::]/', 'unspecified address (::)'],
    ['http://[0000::1]/', 'loopback address (::1)'],
    ['http://127.0.0.1#@evil.example/', 'loopback address (127.0.0.1)'],
    ['http://10.0.0.1/', 'private address (10.0.0.1); refused'],
    ['https://169.254.169.254/latest/meta-data/', 'link-local address (169.254.169.254)'],
    ['http://[::1]:8080/', 'loopback address (::1)'],
    ['http://[::ffff:127.0.0.1]/', 'loopback address (::ffff:7f00:1)'],
    ['http://[fd00::1]/', 'private (unique local) address'],
    ['http://[fe80::1]/', 'link-local address'],
    ['http://0.0.0.0:80/', 'unspecified'],
    ['http://100.64.1.1/', 'carrier-grade NAT'],
    ['http://224.0.0.1/', 'multicast'],
  ])('refuses %s before any lookup or connection', async (url, message) => {
    const err = await assertPublicUrl(url, { resolver: noResolver }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect((err as Error).message).toContain(message);
  });

  it.each([
    ['file:///etc/passwd', 'scheme "file" is not allowed'],
    ['ftp://example.com/a.wav', 'scheme "ftp" is not allowed'],
    ['gopher://127.0.0.1:6379/_', 'not allowed'],
    ['data:audio/wav;base64,AAAA', 'not allowed'],
    ['not a url', 'Not a valid URL'],
    ['http://user:pw@8.8.8.8/', 'credentials'],
    ['http://evil.example@127.0.0.1/', 'credentials'],
  ])('refuses %s', async (url, message) => {
    await expect(assertPublicUrl(url, { resolver: noResolver })).rejects.toThrow(message);
  });

  it('resolves names with the given resolver and refuses if any address is private', async () => {
    const resolver = async (h: string) => (h === 'mixed.example' ? ['93.184.216.34', '10.1.1.1'] : ['93.184.216.34']);
    await expect(assertPublicUrl('https://mixed.example/a.wav', { resolver })).rejects.toThrow(
      'URL resolves to a private address (10.1.1.1); refused',
    );
    const ok = await assertPublicUrl('https://good.example/a.wav', { resolver });
    expect(ok).toMatchObject({ hostname: 'good.example', address: '93.184.216.34', family: 4 });
  });

  it('refuses localhost via the system resolver (/etc/hosts, no network)', async () => {
    await expect(assertPublicUrl('http://localhost:9/')).rejects.toThrow(/loopback address/);
  });

  it('turns resolver failures into a refusal', async () => {
    const resolver = async () => {
      throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
    };
    await expect(assertPublicUrl('https://nowhere.invalid/', { resolver })).rejects.toThrow(
      'Host name "nowhere.invalid" could not be resolved (ENOTFOUND)',
    );
  });

  it('lets allow-listed hosts and IPs through, and only those', async () => {
    await expect(assertPublicUrl('http://127.0.0.1:1/', { allowHosts: ['127.0.0.1'] })).resolves.toMatchObject({
      address: '127.0.0.1',
    });
    await expect(assertPublicUrl('http://127.0.0.2:1/', { allowHosts: ['127.0.0.1'] })).rejects.toThrow(UrlRefusedError);
    const resolver = async () => ['10.9.9.9'];
    await expect(assertPublicUrl('http://media.lan/', { allowHosts: ['media.lan'], resolver })).resolves.toMatchObject({
      address: '10.9.9.9',
    });
    await expect(assertPublicUrl('http://other.lan/', { allowHosts: ['10.9.9.9'], resolver })).resolves.toMatchObject({
      address: '10.9.9.9',
    });
    await expect(assertPublicUrl('http://other.lan/', { allowHosts: ['media.lan'], resolver })).rejects.toThrow(
      'private address (10.9.9.9)',
    );
    await expect(assertPublicUrl('http://[::1]:1/', { allowHosts: ['0:0:0:0:0:0:0:1'] })).resolves.toMatchObject({
      family: 6,
    });
    await expect(assertPublicUrl('http://10.0.0.1/', { allowPrivate: true })).resolves.toMatchObject({ address: '10.0.0.1' });
  });

  it('can restrict schemes to https only', async () => {
    await expect(assertPublicUrl('http://8.8.8.8/', { allowedProtocols: ['https:'] })).rejects.toThrow('use https');
  });
});
