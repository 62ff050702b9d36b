/*
 * A production-like backend in a process of its own, for tests that kill it
 * (SIGKILL) and start it again: `node --import tsx
 * src/testing/backendProcess.ts --config <file>`. The config file names the
 * database, Llama Stack and a static access token; permissions are allow-all.
 */
import { createBackend } from '@backstage/backend-defaults';

const backend = createBackend();
backend.add(import('@backstage/plugin-permission-backend'));
backend.add(
  import('@backstage/plugin-permission-backend-module-allow-all-policy'),
);
backend.add(import('../index'));
backend.start();
