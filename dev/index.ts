/*
 * A real Backstage backend for trying the plugin: `npm start`.
 *
 * SQLite in memory, a guest dev user, the permission backend with an allow-all
 * policy, and the upstream servers sync to:
 * - by default Llama Stack from LLAMA_STACK_URL;
 * - with DEV_UPSTREAM=lightspeed-stack, lightspeed-stack from
 *   LIGHTSPEED_STACK_URL (and LIGHTSPEED_STACK_TOKEN).
 * Without the URL it starts the matching in-memory STAND-IN of src/testing,
 * which only imitates the API the plugin calls: nothing reaches a real model
 * or MCP server.
 */
import { createBackend } from '@backstage/backend-defaults';
import path from 'node:path';
import { LightspeedStackStandIn } from '../src/testing/lightspeedStackStandIn';
import { LlamaStackStandIn } from '../src/testing/llamaStackStandIn';

const UPSTREAMS = ['llama-stack', 'lightspeed-stack'];

async function startLlamaStackStandIn() {
  const standIn = await LlamaStackStandIn.start({
    port: Number(process.env.LLAMA_STACK_STAND_IN_PORT ?? 8321),
  });
  process.env.LLAMA_STACK_URL = standIn.url;
  console.warn(
    `[dev] LLAMA_STACK_URL is not set: started a Llama Stack STAND-IN (in-memory toolgroups only, not Llama Stack) at ${standIn.url}`,
  );
}

async function startLightspeedStackStandIn() {
  const token = 'dev-lightspeed-stack-token';
  const standIn = await LightspeedStackStandIn.start({
    port: Number(process.env.LIGHTSPEED_STACK_STAND_IN_PORT ?? 8080),
    token,
  });
  process.env.LIGHTSPEED_STACK_URL = standIn.url;
  process.env.LIGHTSPEED_STACK_TOKEN = token;
  console.warn(
    `[dev] LIGHTSPEED_STACK_URL is not set: started a lightspeed-stack STAND-IN (in-memory /v1/mcp-servers only, not lightspeed-stack) at ${standIn.url}`,
  );
}

async function main() {
  // The guest sign-in (the dev user) is only offered in development.
  process.env.NODE_ENV ??= 'development';
  const upstream = process.env.DEV_UPSTREAM ?? 'llama-stack';
  if (!UPSTREAMS.includes(upstream)) {
    throw new Error(`DEV_UPSTREAM must be one of ${UPSTREAMS.join(', ')}`);
  }
  if (upstream === 'lightspeed-stack' && !process.env.LIGHTSPEED_STACK_URL) {
    await startLightspeedStackStandIn();
  } else if (upstream === 'llama-stack' && !process.env.LLAMA_STACK_URL) {
    await startLlamaStackStandIn();
  }
  // app-config.yaml, plus the upstream's part: the plugin takes one upstream.
  const root = path.resolve(__dirname, '..');
  process.argv.push(
    '--config',
    path.join(root, 'app-config.yaml'),
    '--config',
    path.join(root, 'dev', `app-config.${upstream}.yaml`),
  );

  const backend = createBackend();
  backend.add(import('@backstage/plugin-auth-backend'));
  backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
  backend.add(import('@backstage/plugin-permission-backend'));
  // Swap this module for your own policy to try real rules; see the README.
  backend.add(
    import('@backstage/plugin-permission-backend-module-allow-all-policy'),
  );
  backend.add(import('../src'));
  await backend.start();
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
