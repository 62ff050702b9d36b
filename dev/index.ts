/*
 * A real Backstage backend for trying the plugin: `npm start`.
 *
 * SQLite in memory, a guest dev user, the permission backend with an allow-all
 * policy, and Llama Stack from LLAMA_STACK_URL. Without LLAMA_STACK_URL it
 * starts the in-memory Llama Stack STAND-IN of src/testing, which only imitates
 * the toolgroups API: nothing reaches a real model or MCP server.
 */
import { createBackend } from '@backstage/backend-defaults';
import { LlamaStackStandIn } from '../src/testing/llamaStackStandIn';

async function main() {
  // The guest sign-in (the dev user) is only offered in development.
  process.env.NODE_ENV ??= 'development';
  if (!process.env.LLAMA_STACK_URL) {
    const standIn = await LlamaStackStandIn.start({
      port: Number(process.env.LLAMA_STACK_STAND_IN_PORT ?? 8321),
    });
    process.env.LLAMA_STACK_URL = standIn.url;
    console.warn(
      `[dev] LLAMA_STACK_URL is not set: started a Llama Stack STAND-IN (in-memory toolgroups only, not Llama Stack) at ${standIn.url}`,
    );
  }

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
