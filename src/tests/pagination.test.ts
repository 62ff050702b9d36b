import { mockCredentials } from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { Knex } from 'knex';
import {
  createMcpServerConditionalDecision,
  mcpServerConditions,
} from '../permissions/rules';
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import {
  asUser,
  BASE,
  createTestDatabases,
  startPlugin,
  TestPlugin,
} from '../testing/testBackend';

const databases = createTestDatabases();

const STATIC_SERVERS = [
  { name: 'docs', url: 'https://docs.example.com/mcp' },
  { name: 'jira', url: 'https://jira.example.com/mcp' },
];

describe.each(databases.eachSupportedId())(
  'paging GET /v1/mcp-servers on %s',
  databaseId => {
    let knex: Knex;
    let standIn: LlamaStackStandIn;
    let plugin: TestPlugin;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      standIn = await LlamaStackStandIn.start();
    });

    afterEach(async () => {
      await plugin.stop();
      await standIn.stop();
    });

    async function register(names: string[], user = asUser) {
      for (const name of names) {
        const res = await plugin.http
          .post(BASE)
          .set('authorization', user)
          .send({ name, url: `http://${name}.example/mcp` });
        expect(res.status).toBe(201);
      }
    }

    /**
     * Follows next_cursor from the first page; answers the names of each page.
     */
    async function pages(
      limit: number,
      between?: (page: number) => Promise<void>,
      user = asUser,
    ): Promise<string[][]> {
      const result: string[][] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 50; page++) {
        const res = await plugin.http
          .get(BASE)
          .query({ limit, ...(cursor && { cursor }) })
          .set('authorization', user);
        expect(res.status).toBe(200);
        result.push(res.body.servers.map((s: { name: string }) => s.name));
        cursor = res.body.next_cursor;
        if (!cursor) {
          return result;
        }
        await between?.(page);
      }
      throw new Error('more than 50 pages');
    }

    it('pages config servers first, then API servers in registration order, and says when it is done', async () => {
      plugin = await startPlugin({
        knex,
        llamaStackUrl: standIn.url,
        config: { mcpServers: STATIC_SERVERS },
      });
      await register(['e', 'a', 'd', 'b', 'c']);

      expect(await pages(2)).toEqual([
        ['docs', 'jira'],
        ['e', 'a'],
        ['d', 'b'],
        ['c'],
      ]);
      expect(await pages(3)).toEqual([
        ['docs', 'jira', 'e'],
        ['a', 'd', 'b'],
        ['c'],
      ]);
      expect(await pages(7)).toEqual([
        ['docs', 'jira', 'e', 'a', 'd', 'b', 'c'],
      ]);
    });

    it('gives no next_cursor when a page ends exactly at the last server', async () => {
      plugin = await startPlugin({
        knex,
        llamaStackUrl: standIn.url,
        config: { mcpServers: STATIC_SERVERS },
      });
      expect(await pages(2)).toEqual([['docs', 'jira']]);
      await register(['a', 'b']);
      expect(await pages(2)).toEqual([
        ['docs', 'jira'],
        ['a', 'b'],
      ]);
    });

    it('answers the whole list without limit', async () => {
      plugin = await startPlugin({
        knex,
        llamaStackUrl: standIn.url,
        config: { mcpServers: STATIC_SERVERS },
      });
      await register(['a', 'b', 'c']);
      const res = await plugin.http.get(BASE).set('authorization', asUser);
      expect(res.body).not.toHaveProperty('next_cursor');
      expect(res.body.servers.map((s: { name: string }) => s.name)).toEqual([
        'docs',
        'jira',
        'a',
        'b',
        'c',
      ]);
    });

    it('keeps its order while servers are registered and deleted between pages', async () => {
      plugin = await startPlugin({ knex, llamaStackUrl: standIn.url });
      await register(['s1', 's2', 's3', 's4', 's5', 's6']);

      const seen = await pages(2, async page => {
        if (page === 0) {
          await register(['late1', 'late2']);
          expect(
            (
              await plugin.http
                .delete(`${BASE}/s1`)
                .set('authorization', asUser)
            ).status,
          ).toBe(200);
        }
      });

      // Nothing shown twice, nothing left out, newcomers at the end.
      expect(seen.flat()).toEqual([
        's1',
        's2',
        's3',
        's4',
        's5',
        's6',
        'late1',
        'late2',
      ]);
    });

    it('pages only the servers a conditional decision lets the user see', async () => {
      const owner = 'user:default/owner';
      plugin = await startPlugin({
        knex,
        llamaStackUrl: standIn.url,
        config: { mcpServers: STATIC_SERVERS },
        permission: {
          async handle(request, user) {
            if (request.permission.name !== 'lightspeed.mcp-server.list') {
              return { result: AuthorizeResult.ALLOW };
            }
            return createMcpServerConditionalDecision(
              request.permission as ResourcePermission<'lightspeed-mcp-server'>,
              {
                anyOf: [
                  mcpServerConditions.isOwner({
                    claims: [user?.info.userEntityRef ?? ''],
                  }),
                  mcpServerConditions.hasNamePrefix({ prefix: 'jira' }),
                ],
              },
            );
          },
        },
      });
      const ownerHeader = mockCredentials.user.header(owner);
      await register(['o1', 'x1', 'o2', 'x2', 'o3']);
      await knex('mcp_servers')
        .whereIn('name', ['o1', 'o2', 'o3'])
        .update({ created_by: owner });

      expect(await pages(2, undefined, ownerHeader)).toEqual([
        ['jira', 'o1'],
        ['o2', 'o3'],
      ]);
    });

    it.each([
      ['limit=0'],
      ['limit=-1'],
      ['limit=abc'],
      ['limit=1.5'],
      ['limit=10001'],
      ['limit=2&cursor=bm90LWEtY3Vyc29y'],
      ['limit=2&cursor=%%%'],
      ['cursor=YTE'],
      ['limit=1&limit=2'],
    ])('answers 400 to %s', async query => {
      plugin = await startPlugin({ knex, llamaStackUrl: standIn.url });
      const res = await plugin.http
        .get(`${BASE}?${query}`)
        .set('authorization', asUser);
      expect(res.status).toBe(400);
      expect(res.body.error.name).toBe('InputError');
      expect(res.body.error.message).toMatch(/'limit'|'cursor'/);
    });
  },
);
