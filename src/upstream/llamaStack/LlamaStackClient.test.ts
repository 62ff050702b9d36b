import {
  LlamaStackStandIn,
  StandInFault,
  StandInOptions,
} from '../../testing/llamaStackStandIn';
import {
  LlamaStackClient,
  LlamaStackError,
  LlamaStackFailure,
  RegisterToolgroupRequest,
} from './LlamaStackClient';

const DOCS: RegisterToolgroupRequest = {
  toolgroupId: 'docs',
  providerId: 'model-context-protocol',
  mcpEndpointUri: 'https://docs.example.com/mcp',
};

describe('LlamaStackClient', () => {
  let standIn: LlamaStackStandIn;

  async function useStandIn(options: StandInOptions = {}) {
    await standIn?.stop();
    standIn = await LlamaStackStandIn.start(options);
  }

  function client(options: { token?: string; timeoutMs?: number } = {}) {
    return new LlamaStackClient({
      baseUrl: standIn.url,
      timeoutMs: options.timeoutMs ?? 1000,
      token: options.token,
    });
  }

  /**
   * Awaits a call that must fail, and returns its error after checking it is a
   * LlamaStackError.
   */
  async function failureOf(call: Promise<unknown>): Promise<LlamaStackError> {
    const error = await call.then(
      value => {
        throw new Error(
          `expected a LlamaStackError, the call resolved ${JSON.stringify(value)}`,
        );
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LlamaStackError);
    return error as LlamaStackError;
  }

  beforeEach(async () => {
    standIn = await LlamaStackStandIn.start();
  });

  afterEach(async () => {
    await standIn.stop();
  });

  describe('registerToolgroup', () => {
    it('sends exactly the body of the reference schema', async () => {
      await client().registerToolgroup(DOCS);

      expect(standIn.calls).toEqual([
        expect.objectContaining({
          method: 'POST',
          path: '/v1/toolgroups',
          body: {
            toolgroup_id: 'docs',
            provider_id: 'model-context-protocol',
            mcp_endpoint: { uri: DOCS.mcpEndpointUri },
          },
        }),
      ]);
      expect(standIn.schemaViolations).toEqual([]);
      expect(standIn.toolgroups.get('docs')).toMatchObject({
        provider_id: 'model-context-protocol',
        mcp_endpoint: { uri: DOCS.mcpEndpointUri },
      });
    });

    it('succeeds on a 200 as well as on a 204', async () => {
      standIn.inject(
        { status: 200, message: 'ok' },
        { method: 'POST', times: 1 },
      );
      await expect(client().registerToolgroup(DOCS)).resolves.toBeUndefined();
      // The injected 200 did not store anything; the next call gets the
      // stand-in's own 204.
      expect(standIn.toolgroups.has('docs')).toBe(false);
      await expect(client().registerToolgroup(DOCS)).resolves.toBeUndefined();
      expect(standIn.toolgroups.has('docs')).toBe(true);
    });

    it('succeeds when Llama Stack already holds an identical toolgroup', async () => {
      await client().registerToolgroup(DOCS);
      await expect(client().registerToolgroup(DOCS)).resolves.toBeUndefined();
      expect(standIn.toolgroupCalls()).toEqual([
        'POST /v1/toolgroups',
        'POST /v1/toolgroups',
      ]);
    });

    it.each(['message', 'detail'] as const)(
      "fails with 'conflict' when a different toolgroup has the id (error style %s)",
      async errorStyle => {
        await useStandIn({ errorStyle });
        await client().registerToolgroup(DOCS);

        const error = await failureOf(
          client().registerToolgroup({
            ...DOCS,
            mcpEndpointUri: 'https://other.example.com/mcp',
          }),
        );
        expect(error.failure).toBe('conflict');
        expect(error.message).toMatch(/already exists/);
        expect(standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
          uri: DOCS.mcpEndpointUri,
        });
      },
    );

    it("fails with 'rejected' for a provider Llama Stack does not know", async () => {
      const error = await failureOf(
        client().registerToolgroup({ ...DOCS, providerId: 'no-such-provider' }),
      );
      expect(error.failure).toBe('rejected');
      expect(standIn.toolgroups.size).toBe(0);
    });

    it.each<[StandInFault, LlamaStackFailure]>([
      [{ status: 422 }, 'rejected'],
      [{ status: 401 }, 'rejected'],
      [{ status: 400, message: 'Invalid request' }, 'rejected'],
      [{ status: 500 }, 'unavailable'],
      [{ status: 502 }, 'unavailable'],
      [{ status: 503 }, 'unavailable'],
      [{ status: 429 }, 'unavailable'],
    ])('fails on %j with %s', async (fault, failure) => {
      standIn.inject(fault);
      const error = await failureOf(client().registerToolgroup(DOCS));
      expect(error.failure).toBe(failure);
      expect(error.message).toContain(
        String((fault as { status: number }).status),
      );
    });

    it("fails with 'unavailable' within its timeout when Llama Stack never answers", async () => {
      standIn.inject({ hang: true });
      const started = Date.now();
      const error = await failureOf(
        client({ timeoutMs: 200 }).registerToolgroup(DOCS),
      );
      expect(Date.now() - started).toBeLessThan(2000);
      expect(error.failure).toBe('unavailable');
    });

    it("fails with 'unavailable' when Llama Stack answers later than its timeout", async () => {
      standIn.inject({ delayMs: 600 });
      const error = await failureOf(
        client({ timeoutMs: 200 }).registerToolgroup(DOCS),
      );
      expect(error.failure).toBe('unavailable');
    });

    it("fails with 'unavailable' when the connection is refused", async () => {
      await standIn.stop();
      const error = await failureOf(client().registerToolgroup(DOCS));
      expect(error.failure).toBe('unavailable');
    });
  });

  describe('unregisterToolgroup', () => {
    it('encodes the id in the path and removes the toolgroup', async () => {
      const id = 'a b/c:d';
      await client().registerToolgroup({ ...DOCS, toolgroupId: id });

      await expect(client().unregisterToolgroup(id)).resolves.toBe(
        'unregistered',
      );
      expect(standIn.writeCalls()).toEqual([
        'POST /v1/toolgroups',
        'DELETE /v1/toolgroups/a%20b%2Fc%3Ad',
      ]);
      expect(standIn.toolgroups.has(id)).toBe(false);
    });

    it("resolves 'absent' for a toolgroup Llama Stack does not hold", async () => {
      await expect(client().unregisterToolgroup('unknown')).resolves.toBe(
        'absent',
      );
    });

    it.each<[StandInFault, LlamaStackFailure]>([
      [{ status: 500 }, 'unavailable'],
      [{ status: 403 }, 'rejected'],
    ])(
      'fails on %j with %s instead of pretending success',
      async (fault, failure) => {
        await client().registerToolgroup(DOCS);
        standIn.inject(fault, { method: 'DELETE' });
        const error = await failureOf(client().unregisterToolgroup('docs'));
        expect(error.failure).toBe(failure);
        expect(standIn.toolgroups.has('docs')).toBe(true);
      },
    );

    it("does not take a 404 for 'absent' when the list route fails as well", async () => {
      standIn.inject({ status: 404 }, { method: 'DELETE' });
      standIn.inject({ status: 503 }, { method: 'GET' });
      const error = await failureOf(client().unregisterToolgroup('docs'));
      expect(error.failure).toBe('unavailable');
    });
  });

  describe('listToolgroups', () => {
    it('returns the toolgroups Llama Stack holds', async () => {
      await client().registerToolgroup(DOCS);
      await client().registerToolgroup({
        ...DOCS,
        toolgroupId: 'jira',
        mcpEndpointUri: 'https://jira.example.com/mcp',
      });

      const toolgroups = await client().listToolgroups();
      expect(
        toolgroups.map(t => [t.identifier, t.provider_id, t.mcp_endpoint?.uri]),
      ).toEqual([
        ['docs', 'model-context-protocol', 'https://docs.example.com/mcp'],
        ['jira', 'model-context-protocol', 'https://jira.example.com/mcp'],
      ]);
    });

    it("fails with 'rejected' (not a TypeError) when the answer has no data list", async () => {
      standIn.inject({ status: 200, message: 'not a list' }, { method: 'GET' });
      const error = await failureOf(client().listToolgroups());
      expect(error.failure).toBe('rejected');
    });

    it("fails with 'unavailable' when Llama Stack is down", async () => {
      await standIn.stop();
      const error = await failureOf(client().listToolgroups());
      expect(error.failure).toBe('unavailable');
    });
  });

  describe('listTools', () => {
    it('returns the tools of one toolgroup, asking with its URL-encoded id', async () => {
      await client().registerToolgroup({ ...DOCS, toolgroupId: 'team docs' });
      standIn.tools.set('team docs', [
        { name: 'search', description: 'Searches' },
      ]);

      expect(await client().listTools('team docs')).toEqual([
        { toolgroup_id: 'team docs', name: 'search', description: 'Searches' },
      ]);
      expect(standIn.calls.at(-1)?.path).toBe(
        '/v1/tools?toolgroup_id=team%20docs',
      );
    });

    it.each([
      [
        '404 (0.3 and later)',
        { status: 404, message: "Tool Group 'docs' not found" },
      ],
      [
        '400 "not found" (0.2)',
        { status: 400, message: "Tool group 'docs' not found" },
      ],
    ])(
      "resolves 'absent' for an unknown toolgroup answered with %s",
      async (_case, fault) => {
        standIn.inject(fault, { method: 'GET', times: 1 });
        expect(await client().listTools('docs')).toBe('absent');
      },
    );

    it("fails with 'unavailable' on a 500, such as an MCP server Llama Stack cannot reach", async () => {
      await client().registerToolgroup(DOCS);
      standIn.inject({ status: 500 }, { method: 'GET' });
      expect((await failureOf(client().listTools('docs'))).failure).toBe(
        'unavailable',
      );
    });
  });

  describe('against Llama Stack 0.7+ (no toolgroups API)', () => {
    beforeEach(() => useStandIn({ toolgroupsApi: false }));

    it.each<[string, (c: LlamaStackClient) => Promise<unknown>]>([
      ['register', c => c.registerToolgroup(DOCS)],
      ['unregister', c => c.unregisterToolgroup('docs')],
      ['list', c => c.listToolgroups()],
      ['list tools', c => c.listTools('docs')],
    ])(
      "fails %s with 'no-toolgroups-api', never resolving as absent",
      async (_operation, call) => {
        const error = await failureOf(call(client()));
        expect(error.failure).toBe('no-toolgroups-api');
        expect(error.message).toMatch(/0\.7/);
      },
    );
  });

  describe('with a token', () => {
    beforeEach(() => useStandIn({ token: 's3cret' }));

    it('sends Authorization: Bearer <token> on every call', async () => {
      const authorized = client({ token: 's3cret' });
      await authorized.registerToolgroup(DOCS);
      await authorized.listToolgroups();
      await expect(authorized.unregisterToolgroup('docs')).resolves.toBe(
        'unregistered',
      );
      // 'absent' needs a DELETE and the GET that confirms the API exists.
      await expect(authorized.unregisterToolgroup('docs')).resolves.toBe(
        'absent',
      );

      expect(standIn.calls).toHaveLength(5);
      expect(standIn.calls.map(c => c.authorization)).toEqual(
        Array(5).fill('Bearer s3cret'),
      );
    });

    it("is 'rejected' by a Llama Stack that wants a token it does not send", async () => {
      const error = await failureOf(client().registerToolgroup(DOCS));
      expect(error.failure).toBe('rejected');
      expect(standIn.calls.map(c => c.authorization)).toEqual([undefined]);
      expect(standIn.toolgroups.size).toBe(0);
    });
  });

  it('keeps upstream error text in the message, for the log', async () => {
    standIn.inject({ status: 500, message: 'database is locked' });
    const error = await failureOf(client().registerToolgroup(DOCS));
    expect(error.message).toContain('database is locked');
    expect(error.name).toBe('LlamaStackError');
  });
});
