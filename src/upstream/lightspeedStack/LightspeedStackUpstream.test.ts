import {
  LightspeedStackStandIn,
  LightspeedStackStandInOptions,
} from '../../testing/lightspeedStackStandIn';
import { LlamaStackStandIn } from '../../testing/llamaStackStandIn';
import { UpstreamError } from '../Upstream';
import { LightspeedStackUpstream } from './LightspeedStackUpstream';

const TOKEN = 'plugin-token';
const SERVER = {
  name: 'team tools',
  url: 'https://mcp.example.com/mcp',
  providerId: 'model-context-protocol',
};

describe('LightspeedStackUpstream', () => {
  let standIn: LightspeedStackStandIn | undefined;

  afterEach(async () => {
    await standIn?.stop();
    standIn = undefined;
  });

  async function upstreamOf(
    options: LightspeedStackStandInOptions = {},
    token = TOKEN,
  ) {
    standIn = await LightspeedStackStandIn.start({
      token: TOKEN,
      configServers: [{ name: 'lcs-own', url: 'https://own.example/mcp' }],
      ...options,
    });
    return new LightspeedStackUpstream({
      baseUrl: standIn.url,
      token,
      timeoutMs: 1000,
    });
  }

  const failureOf = (promise: Promise<unknown>) =>
    promise.then(
      () => 'succeeded',
      error => (error instanceof UpstreamError ? error.failure : error),
    );

  it('registers the whole server with the token, and lists it with its source', async () => {
    const upstream = await upstreamOf();

    await upstream.register({
      ...SERVER,
      authorizationHeaders: { Authorization: 'client' },
      headers: ['x-request-id'],
      timeout: 30,
    });

    expect(standIn!.servers.get('team tools')).toEqual({
      name: 'team tools',
      url: SERVER.url,
      provider_id: SERVER.providerId,
      authorization_headers: { Authorization: 'client' },
      headers: ['x-request-id'],
      timeout: 30,
      source: 'api',
    });
    expect(
      standIn!.calls.every(c => c.authorization === `Bearer ${TOKEN}`),
    ).toBe(true);
    expect(await upstream.list()).toEqual(
      new Map([
        [
          'lcs-own',
          {
            url: 'https://own.example/mcp',
            providerId: 'model-context-protocol',
            source: 'config',
          },
        ],
        [
          'team tools',
          { url: SERVER.url, providerId: SERVER.providerId, source: 'api' },
        ],
      ]),
    );
  });

  it.each([
    ['a name LCS holds', 'conflict', 'lcs-own', undefined],
    ['a refused body', 'rejected', 'x', { status: 422 }],
    ['a refused token', 'unauthorized', 'x', { status: 401 }],
    ['a 503', 'unavailable', 'x', { status: 503 }],
  ] as const)('maps %s to %s', async (_case, failure, name, fault) => {
    const upstream = await upstreamOf();
    if (fault) {
      standIn!.inject(fault, { method: 'POST' });
    }

    expect(await failureOf(upstream.register({ ...SERVER, name }))).toBe(
      failure,
    );
  });

  it('answers unavailable when LCS is down or too slow', async () => {
    const upstream = await upstreamOf();
    standIn!.inject({ delayMs: 2000 }, { method: 'POST' });

    expect(await failureOf(upstream.register(SERVER))).toBe('unavailable');
    await standIn!.stop();
    expect(await failureOf(upstream.list())).toBe('unavailable');
  });

  it.each(['pr1330', '2026-05'] as const)(
    'unregisters, and takes an unknown name as absent, in the %s dialect',
    async deleteDialect => {
      const upstream = await upstreamOf({ deleteDialect });
      await upstream.register(SERVER);

      expect(await upstream.unregister(SERVER.name)).toBe('unregistered');
      expect(standIn!.servers.has(SERVER.name)).toBe(false);
      expect(await upstream.unregister(SERVER.name)).toBe('absent');
    },
  );

  it("leaves a server of LCS's own config alone, as absent", async () => {
    const upstream = await upstreamOf();

    expect(await upstream.unregister('lcs-own')).toBe('absent');
    expect(standIn!.servers.get('lcs-own')?.source).toBe('config');
  });

  it('tells a 403 for a refused token from a 403 for a config server', async () => {
    const upstream = await upstreamOf({ authFailureStatus: 403 }, 'wrong');

    expect(await failureOf(upstream.unregister('lcs-own'))).toBe(
      'unauthorized',
    );
  });

  it('answers unsupported where there is no /v1/mcp-servers at all', async () => {
    const llamaStack = await LlamaStackStandIn.start();
    try {
      const upstream = new LightspeedStackUpstream({
        baseUrl: llamaStack.url,
        timeoutMs: 1000,
      });

      expect(await failureOf(upstream.list())).toBe('unsupported');
      expect(await failureOf(upstream.unregister('x'))).toBe('unsupported');
    } finally {
      await llamaStack.stop();
    }
  });

  it('needs an update to reach LCS whenever any field changes', async () => {
    const upstream = await upstreamOf();

    expect(upstream.differs(SERVER, { ...SERVER })).toBe(false);
    expect(upstream.differs(SERVER, { ...SERVER, timeout: 5 })).toBe(true);
    expect(upstream.differs(SERVER, { ...SERVER, headers: ['x-a'] })).toBe(
      true,
    );
  });
});
