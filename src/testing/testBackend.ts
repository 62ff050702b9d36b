import {
  HttpAuthService,
  LoggerService,
  RootLoggerService,
} from '@backstage/backend-plugin-api';
import {
  TestDatabaseId,
  TestDatabases,
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import {
  createServiceFactory,
  coreServices,
} from '@backstage/backend-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { PermissionPolicy } from '@backstage/plugin-permission-node';
import { JsonObject } from '@backstage/types';
import { DefaultAuditorService } from '@backstage/backend-defaults/auditor';
import { Knex } from 'knex';
import request from 'supertest';
import { lightspeedMcpPlugin, RECONCILE_TASK_ID } from '../plugin';
import {
  LightspeedStackStandIn,
  LightspeedStackStandInOptions,
} from './lightspeedStackStandIn';
import { LlamaStackStandIn, StandInOptions } from './llamaStackStandIn';
import { StandInServer } from './standInServer';
import { withOpenApiCheck } from './openApiValidator';
import { policyModule } from './policyModule';

export const DATABASE_IDS: TestDatabaseId[] = ['SQLITE_3', 'POSTGRES_15'];

/**
 * The databases every store and HTTP test runs on. In CI a missing PostgreSQL
 * fails the run instead of silently skipping half of the suite.
 */
export function createTestDatabases(): TestDatabases {
  const databases = TestDatabases.create({ ids: DATABASE_IDS });
  if (process.env.CI && !databases.supports('POSTGRES_15')) {
    throw new Error(
      'PostgreSQL tests would be skipped: set BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING (see .ci/run)',
    );
  }
  return databases;
}

/**
 * Every line the plugin logged, with its metadata, for asserting what a log
 * does (not) contain.
 */
export class CapturedLogs {
  readonly lines: Array<{ level: string; message: string; meta?: unknown }> =
    [];

  text(): string {
    return this.lines
      .map(
        l =>
          `${l.level} ${l.message} ${l.meta === undefined ? '' : JSON.stringify(l.meta)}`,
      )
      .join('\n');
  }

  logger(fields: JsonObject = {}): LoggerService & RootLoggerService {
    const log = (level: string) => (message: string, meta?: unknown) => {
      this.lines.push({
        level,
        message,
        meta: meta instanceof Error ? String(meta) : (meta ?? fields),
      });
    };
    return {
      error: log('error'),
      warn: log('warn'),
      info: log('info'),
      debug: log('debug'),
      child: (childFields: JsonObject) =>
        this.logger({ ...fields, ...childFields }),
    };
  }
}

export interface StartPluginOptions {
  knex: Knex;
  /** The upstream: Llama Stack, unless lightspeedStackUrl is given. */
  llamaStackUrl?: string;
  lightspeedStackUrl?: string;
  /**
   * The decision of every permission check, or a policy run by the real
   * permission backend, which is then part of the test backend. Default: allow.
   */
  permission?: AuthorizeResult.ALLOW | AuthorizeResult.DENY | PermissionPolicy;
  /**
   * Merged over `lightspeedMcp` (the upstream's baseUrl is set from its URL
   * option).
   */
  config?: JsonObject;
  logs?: CapturedLogs;
  /**
   * Receives every audit event, as Backstage's default auditor would write it.
   */
  auditEvents?: AuditorEvent[];
}

export interface TestPlugin {
  /**
   * supertest against the backend; requests carry no credentials unless the
   * test adds them. Every answer must match the OpenAPI document
   * (src/schema/openapi.yaml), or the request fails.
   */
  http: ReturnType<typeof request>;
  /** Runs the reconcile task now, as the scheduler would, and waits for it. */
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

export const USER = 'user:default/alice';
/** Authorization header of a signed-in user. */
export const asUser = mockCredentials.user.header(USER);
export const BASE = '/api/lightspeed-mcp/v1/mcp-servers';

/**
 * The plugin in a real backend from startTestBackend, on the given database and
 * Llama Stack.
 */
export async function startPlugin(
  options: StartPluginOptions,
): Promise<TestPlugin> {
  const { llamaStack, lightspeedStack, ...rest } = (options.config ?? {}) as {
    llamaStack?: JsonObject;
    lightspeedStack?: JsonObject;
  } & JsonObject;
  // Short timeouts: tests of slow upstreams wait for them.
  const upstream = options.lightspeedStackUrl
    ? {
        lightspeedStack: {
          baseUrl: options.lightspeedStackUrl,
          timeout: { milliseconds: 1500 },
          ...lightspeedStack,
        },
      }
    : {
        llamaStack: {
          baseUrl: options.llamaStackUrl,
          timeout: { milliseconds: 1500 },
          ...llamaStack,
        },
      };
  const logs = options.logs;
  // The mock scheduler runs every task once at startup, and then only when
  // triggered.
  const scheduler = mockServices.scheduler() as ReturnType<
    typeof mockServices.scheduler
  > & {
    factory(): ReturnType<typeof mockServices.scheduler.factory>;
  };
  const backend = await startTestBackend({
    features: [
      lightspeedMcpPlugin,
      scheduler.factory(),
      mockServices.rootConfig.factory({
        data: {
          permission: { enabled: true },
          lightspeedMcp: { ...upstream, ...rest },
        },
      }),
      mockServices.database.factory({ knex: options.knex }),
      ...permissionFeatures(options.permission ?? AuthorizeResult.ALLOW),
      httpAuthLikeReal,
      ...(options.auditEvents ? [auditorInto(options.auditEvents)] : []),
      ...(logs
        ? [
            createServiceFactory({
              service: coreServices.rootLogger,
              deps: {},
              factory: () => logs.logger(),
            }),
          ]
        : []),
    ],
  });
  return {
    http: withOpenApiCheck(request(backend.server)),
    reconcile: () => scheduler.triggerTask(RECONCILE_TASK_ID),
    stop: () => backend.stop(),
  };
}

function permissionFeatures(
  permission: NonNullable<StartPluginOptions['permission']>,
) {
  if (typeof permission !== 'object') {
    return [mockServices.permissions.factory({ result: permission })];
  }
  return [
    import('@backstage/plugin-permission-backend'),
    policyModule('test-policy', permission),
  ];
}

export type AuditorEvent = Parameters<
  Parameters<typeof DefaultAuditorService.create>[0]
>[0];

/** Backstage's own auditor, writing into an array instead of the log. */
function auditorInto(events: AuditorEvent[]) {
  return createServiceFactory({
    service: coreServices.auditor,
    deps: {
      auth: coreServices.auth,
      httpAuth: coreServices.httpAuth,
      plugin: coreServices.pluginMetadata,
    },
    factory: deps =>
      DefaultAuditorService.create(event => {
        events.push(event);
      }, deps),
  });
}

const MOCK_SERVICE_TOKEN_PREFIX = 'mock-service-token:';

/**
 * The mock HTTP auth service, with two changes that make it behave like the
 * real one:
 * - a request without credentials is anonymous (the mock's default is a
 *   signed-in user);
 * - a token sent on behalf of a user keeps the sending plugin as actor. The
 *   permission backend refuses
 *   conditional decisions to user credentials without an actor, and the mock drops it.
 */
export const httpAuthLikeReal = createServiceFactory({
  service: coreServices.httpAuth,
  deps: { plugin: coreServices.pluginMetadata },
  factory({ plugin }) {
    const httpAuth = mockServices.httpAuth({
      pluginId: plugin.getId(),
      defaultCredentials: mockCredentials.none(),
    });
    return {
      credentials: async (req, options) => {
        const credentials = await httpAuth.credentials(req, options);
        const token = req.headers.authorization?.match(/^Bearer (\S+)$/)?.[1];
        if (
          (credentials.principal as { type: string }).type === 'user' &&
          token?.startsWith(MOCK_SERVICE_TOKEN_PREFIX)
        ) {
          const { obo } = JSON.parse(
            token.slice(MOCK_SERVICE_TOKEN_PREFIX.length),
          );
          return mockCredentials.user(obo, {
            actor: { subject: 'plugin:lightspeed-mcp' },
          });
        }
        return credentials;
      },
      issueUserCookie: (res, options) => httpAuth.issueUserCookie(res, options),
    } as HttpAuthService;
  },
});

/**
 * Per test: a fresh database of `databaseId`, a Llama Stack stand-in and
 * captured logs; `start` runs the plugin on them, and everything started is
 * stopped after the test. The stand-in must have seen only request bodies that
 * match Llama Stack's schema.
 */
export function usePluginFixture(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
) {
  return useUpstreamFixture(databases, databaseId, {
    start: (options: StandInOptions = {}) => LlamaStackStandIn.start(options),
    pluginOptions: url => ({ llamaStackUrl: url }),
  });
}

/** As usePluginFixture, with servers synced to a lightspeed-stack stand-in. */
export function useLightspeedStackFixture(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
) {
  return useUpstreamFixture(databases, databaseId, {
    start: (options: LightspeedStackStandInOptions = {}) =>
      LightspeedStackStandIn.start(options),
    pluginOptions: url => ({ lightspeedStackUrl: url }),
  });
}

function useUpstreamFixture<S extends StandInServer, O>(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
  upstream: {
    start(options?: O): Promise<S>;
    pluginOptions(url: string): Partial<StartPluginOptions>;
  },
) {
  const plugins: TestPlugin[] = [];
  const fixture = {
    knex: undefined as unknown as Knex,
    standIn: undefined as unknown as S,
    logs: new CapturedLogs(),
    async start(
      options: Partial<StartPluginOptions> = {},
    ): Promise<TestPlugin> {
      const plugin = await startPlugin({
        knex: fixture.knex,
        ...upstream.pluginOptions(fixture.standIn.url),
        logs: fixture.logs,
        ...options,
      });
      plugins.push(plugin);
      return plugin;
    },
    /** Stops a plugin before the test ends, as a restart would. */
    async stop(plugin: TestPlugin) {
      plugins.splice(plugins.indexOf(plugin), 1);
      await plugin.stop();
    },
    async replaceStandIn(options: O) {
      await fixture.standIn.stop();
      fixture.standIn = await upstream.start(options);
    },
  };

  beforeEach(async () => {
    fixture.knex = await databases.init(databaseId);
    fixture.standIn = await upstream.start();
    fixture.logs = new CapturedLogs();
  });

  afterEach(async () => {
    await Promise.all(plugins.splice(0).map(p => p.stop()));
    await fixture.standIn.stop();
    expect(fixture.standIn.schemaViolations).toEqual([]);
  });

  return fixture;
}
