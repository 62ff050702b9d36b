import http from 'node:http';
import { AddressInfo } from 'node:net';
import { fakeDns } from '../testing/fakeDns';
import { UrlPolicy } from './urlPolicy';
import { createGuardedFetch, GuardedFetch } from './guardedFetch';

/**
 * An HTTP server on a loopback address that answers every request with
 * `answer`.
 */
async function serve(
  host: string,
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void,
) {
  const requests: Array<{ host?: string; path?: string }> = [];
  const server = http.createServer((req, res) => {
    requests.push({ host: req.headers.host, path: req.url });
    answer(req, res);
  });
  await new Promise<void>(resolve => server.listen(0, host, resolve));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, requests };
}

const servers: http.Server[] = [];
let guarded: GuardedFetch | undefined;

afterEach(async () => {
  jest.restoreAllMocks();
  await guarded?.close();
  guarded = undefined;
  await Promise.all(
    servers
      .splice(0)
      .map(server => new Promise(resolve => server.close(resolve))),
  );
});

function start(rules = {}) {
  guarded = createGuardedFetch(new UrlPolicy(rules), 2000);
  return guarded;
}

const ok = (_req: http.IncomingMessage, res: http.ServerResponse) =>
  res.end('ok');
const redirectTo =
  (location: string) =>
  (_req: http.IncomingMessage, res: http.ServerResponse) =>
    res.writeHead(302, { location }).end();

describe('createGuardedFetch', () => {
  it('connects to the address the host name resolves to, keeping the name in the Host header', async () => {
    const target = await serve('127.0.0.1', ok);
    fakeDns({ 'mcp.test': ['127.0.0.1'] });
    const { fetch, statuses } = start();

    const response = await fetch(`http://mcp.test:${target.port}/mcp`);

    expect(await response.text()).toBe('ok');
    expect(target.requests).toEqual([
      { host: `mcp.test:${target.port}`, path: '/mcp' },
    ]);
    expect(statuses).toEqual([200]);
  });

  it.each([
    ['an IP literal', 'http://169.254.169.254/latest/meta-data'],
    [
      'an IPv4-mapped IPv6 literal',
      'http://[::ffff:169.254.169.254]/latest/meta-data',
    ],
    [
      'a name that resolves to the metadata address',
      'http://metadata.test/latest/meta-data',
    ],
    ['a name with one refused address among others', 'http://mixed.test/'],
  ])(
    'refuses %s before connecting, naming the host and not its address',
    async (_case, url) => {
      fakeDns({
        'metadata.test': ['169.254.169.254'],
        'mixed.test': ['127.0.0.1', '169.254.169.254'],
      });
      const { fetch } = start();

      await expect(fetch(url)).rejects.toThrow();

      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      expect(guarded?.refusal?.message).toBe(
        `The URL policy refuses a connection to ${host}: ` +
          'its address is in a range that is always refused (link-local and cloud metadata addresses)',
      );
    },
  );

  it.each([
    [
      'in a denied CIDR',
      { deny: ['127.0.0.0/8'] },
      /matches lightspeedMcp\.urlPolicy\.deny$/,
    ],
    [
      'outside the allowed ones',
      { allow: ['10.0.0.0/8'] },
      /matches no entry of lightspeedMcp\.urlPolicy\.allow$/,
    ],
  ])(
    'refuses an address %s, and the server never sees a request',
    async (_case, rules, reason) => {
      const target = await serve('127.0.0.1', ok);
      const { fetch } = start(rules);

      await expect(
        fetch(`http://127.0.0.1:${target.port}/mcp`),
      ).rejects.toThrow();

      expect(target.requests).toEqual([]);
      expect(guarded?.refusal?.message).toMatch(reason);
    },
  );

  it('does not follow a redirect to the metadata address', async () => {
    const first = await serve(
      '127.0.0.1',
      redirectTo('http://169.254.169.254/latest/meta-data'),
    );
    const { fetch } = start();

    await expect(fetch(`http://127.0.0.1:${first.port}/mcp`)).rejects.toThrow();

    expect(first.requests).toHaveLength(1);
    expect(guarded?.refusal?.message).toBe(
      'The URL policy refuses a connection to 169.254.169.254: ' +
        'its address is in a range that is always refused (link-local and cloud metadata addresses)',
    );
  });

  it('does not follow a redirect to a denied address that would answer', async () => {
    const denied = await serve('127.0.0.2', ok);
    const first = await serve(
      '127.0.0.1',
      redirectTo(`http://127.0.0.2:${denied.port}/`),
    );
    const { fetch } = start({ deny: ['127.0.0.2'] });

    await expect(fetch(`http://127.0.0.1:${first.port}/mcp`)).rejects.toThrow();

    expect(denied.requests).toEqual([]);
    expect(guarded?.refusal?.message).toMatch(
      /matches lightspeedMcp\.urlPolicy\.deny$/,
    );
  });

  it('follows a redirect to an allowed address', async () => {
    const second = await serve('127.0.0.2', ok);
    const first = await serve(
      '127.0.0.1',
      redirectTo(`http://127.0.0.2:${second.port}/moved`),
    );
    const { fetch, statuses } = start();

    const response = await fetch(`http://127.0.0.1:${first.port}/mcp`);

    expect(await response.text()).toBe('ok');
    expect(second.requests).toEqual([
      { host: `127.0.0.2:${second.port}`, path: '/moved' },
    ]);
    expect(statuses).toEqual([200]);
    expect(guarded?.refusal).toBeUndefined();
  });
});
