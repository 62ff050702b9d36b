import {
  ChildProcess,
  execFileSync,
  spawn,
  spawnSync,
} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { exportInputsHash } from '../../scripts/exportInputs';
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import { freePort } from '../testing/localResources';

/*
 * The package Red Hat Developer Hub installs: dist-dynamic/, exported by `npm
 * run export-dynamic` with RHDH's CLI, packed with `npm pack` and extracted
 * into a dynamic plugins root as RHDH's installer does, then loaded by a
 * backend started as RHDH starts (src/tests/dynamicPluginHost.mjs) in a
 * process of its own. The plugin must load from that folder alone, find its
 * migrations there, and serve its API behind Backstage auth and permissions.
 *
 * dist-dynamic/ is exported again first unless it was made from the current
 * sources (dist-dynamic/.export-inputs); that takes a few minutes and needs
 * the npm registry (yarn and the bundled dependencies).
 */

const ROOT = path.resolve(__dirname, '..', '..');
const EXPORT_DIR = path.join(ROOT, 'dist-dynamic');
const DYNAMIC_PACKAGE = 'backstage-plugin-lightspeed-mcp-backend-dynamic';
const TOKEN = 'dynamic-plugin-test-token-0123456789abcdef';
const EXPORT_LIMIT_MS = 15 * 60_000;
const START_LIMIT_MS = 90_000;

/** Exports dist-dynamic/ again unless it was made from the current sources. */
function ensureExport(): void {
  const stamp = path.join(EXPORT_DIR, '.export-inputs');
  const current = exportInputsHash(ROOT);
  if (
    fs.existsSync(stamp) &&
    fs.readFileSync(stamp, 'utf8').trim() === current
  ) {
    return;
  }
  const env = { ...process.env };
  delete env.NODE_ENV; // jest's "test"
  const result = spawnSync('npm', ['run', 'export-dynamic'], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: EXPORT_LIMIT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(
      `npm run export-dynamic failed (${result.status ?? result.signal ?? result.error}):\n` +
        `${result.stdout}\n${result.stderr}`.slice(-8000),
    );
  }
}

/**
 * What RHDH's installer does with a local package: `npm pack --json <dir>` in
 * the dynamic plugins root, then the archive extracted without its `package/`
 * prefix into a folder named after the archive, and the archive removed.
 */
function installAsRhdhDoes(pluginsRoot: string): string {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', EXPORT_DIR], {
      cwd: pluginsRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  ) as Array<{ filename: string }>;
  const archive = path.join(pluginsRoot, packed[0].filename);
  const pluginDir = archive.replace(/\.tgz$/, '');
  fs.mkdirSync(pluginDir);
  execFileSync('tar', [
    '-xzf',
    archive,
    '-C',
    pluginDir,
    '--strip-components=1',
  ]);
  fs.rmSync(archive);
  return pluginDir;
}

describe('the exported dynamic plugin in a backend started as RHDH does', () => {
  let workDir: string;
  let pluginDir: string;
  let standIn: LlamaStackStandIn;
  let baseUrl: string;
  let host: ChildProcess | undefined;
  let output = '';

  beforeAll(
    async () => {
      ensureExport();
      workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lsmcp-dynamic-'));
      const pluginsRoot = path.join(workDir, 'dynamic-plugins-root');
      const databaseDir = path.join(workDir, 'database');
      fs.mkdirSync(pluginsRoot);
      fs.mkdirSync(databaseDir);
      pluginDir = installAsRhdhDoes(pluginsRoot);

      standIn = await LlamaStackStandIn.start();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      const configFile = path.join(workDir, 'app-config.json');
      fs.writeFileSync(
        configFile,
        JSON.stringify({
          backend: {
            baseUrl,
            listen: { host: '127.0.0.1', port },
            database: {
              client: 'better-sqlite3',
              connection: { directory: databaseDir },
            },
            auth: {
              externalAccess: [
                {
                  type: 'static',
                  options: { token: TOKEN, subject: 'dynamic-plugin-test' },
                },
              ],
            },
          },
          permission: { enabled: true },
          dynamicPlugins: { rootDirectory: pluginsRoot },
          // What the plugin's `pluginConfig` in dynamic-plugins.yaml adds.
          lightspeedMcp: { llamaStack: { baseUrl: standIn.url } },
        }),
      );

      host = spawn(
        process.execPath,
        ['src/tests/dynamicPluginHost.mjs', '--config', configFile],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            NODE_ENV: 'production',
            // The plugins root is outside this folder: its packages find the
            // shared @backstage packages of the host through NODE_PATH.
            NODE_PATH: path.join(ROOT, 'node_modules'),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-2_000_000);
      };
      host.stdout!.on('data', keep);
      host.stderr!.on('data', keep);
      const exited = new Promise<string>(resolve =>
        host!.once('exit', (code, signal) =>
          resolve(`the backend exited (${code ?? signal})`),
        ),
      );

      const deadline = Date.now() + START_LIMIT_MS;
      for (;;) {
        const res = await api('GET', '/v1/mcp-servers').catch(() => undefined);
        if (res?.status === 200) {
          break;
        }
        const failure = await Promise.race([
          exited,
          new Promise<undefined>(resolve =>
            setTimeout(() => resolve(undefined), 250),
          ),
        ]);
        if (failure || Date.now() > deadline) {
          throw new Error(
            `${failure ?? `no answer within ${START_LIMIT_MS} ms`}; backend output:\n${output.slice(-8000)}`,
          );
        }
      }
    },
    EXPORT_LIMIT_MS + START_LIMIT_MS + 60_000,
  );

  afterAll(async () => {
    if (host && host.exitCode === null && host.signalCode === null) {
      const exited = new Promise(resolve => host!.once('exit', resolve));
      host.kill('SIGTERM');
      const timer = setTimeout(() => host!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await standIn?.stop();
    if (workDir) {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });

  function api(method: string, route: string, body?: object, token = TOKEN) {
    return fetch(`${baseUrl}/api/lightspeed-mcp${route}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        'content-type': 'application/json',
      },
      body: body && JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  }

  async function listedNames(): Promise<string[]> {
    const res = await api('GET', '/v1/mcp-servers');
    expect(res.status).toBe(200);
    const { servers } = (await res.json()) as {
      servers: Array<{ name: string }>;
    };
    return servers.map(s => s.name);
  }

  it('is loaded by the dynamic plugins loader from the plugins root', () => {
    expect(path.basename(pluginDir)).toMatch(
      new RegExp(`^${DYNAMIC_PACKAGE}-\\d`),
    );
    expect(output).toContain(
      `loaded dynamic backend plugin '${DYNAMIC_PACKAGE}'`,
    );
    const manifest = JSON.parse(
      fs.readFileSync(path.join(pluginDir, 'package.json'), 'utf8'),
    );
    expect(manifest).toMatchObject({
      name: DYNAMIC_PACKAGE,
      main: 'dist/index.cjs.js',
      backstage: { role: 'backend-plugin', pluginId: 'lightspeed-mcp' },
      bundleDependencies: true,
    });
    expect(Object.keys(manifest.peerDependencies)).toContain(
      '@backstage/backend-plugin-api',
    );
    expect(
      Object.keys(manifest.dependencies).filter(d =>
        d.startsWith('@backstage/'),
      ),
    ).toEqual([]);
  });

  it('ships a config schema of lightspeedMcp alone', () => {
    const schema = JSON.parse(
      fs.readFileSync(
        path.join(pluginDir, 'dist', 'configSchema.json'),
        'utf8',
      ),
    );
    expect(Object.keys(schema.properties)).toEqual(['lightspeedMcp']);
  });

  it('answers 401 without a token and 200 with one', async () => {
    const anonymous = await api('GET', '/v1/mcp-servers', undefined, '');
    expect(anonymous.status).toBe(401);
    expect(Array.isArray(await listedNames())).toBe(true);
  });

  it('registers and deletes a server', async () => {
    const name = 'dynamic-plugin-test';
    const registered = await api('POST', '/v1/mcp-servers', {
      name,
      url: 'http://127.0.0.1:9/mcp',
    });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toMatchObject({
      name,
      created_by: 'dynamic-plugin-test',
    });
    expect(standIn.toolgroups.has(name)).toBe(true);
    expect(await listedNames()).toContain(name);

    const deleted = await api('DELETE', `/v1/mcp-servers/${name}`);
    expect(deleted.status).toBe(200);
    expect(standIn.toolgroups.has(name)).toBe(false);
    expect(await listedNames()).not.toContain(name);
  });

  it('ran the migrations shipped in the exported package', async () => {
    const shipped = fs
      .readdirSync(path.join(pluginDir, 'migrations'))
      .filter(file => file.endsWith('.js'))
      .sort();
    expect(shipped.length).toBeGreaterThan(0);
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: {
        filename: path.join(workDir, 'database', 'lightspeed-mcp.sqlite'),
      },
      useNullAsDefault: true,
    });
    try {
      const ran = await knex('knex_migrations').orderBy('id').pluck('name');
      expect(ran).toEqual(shipped);
      const tables = await knex('sqlite_master')
        .where({ type: 'table' })
        .pluck('name');
      expect(tables).toContain('mcp_servers');
    } finally {
      await knex.destroy();
    }
  });
});
