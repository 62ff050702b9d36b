/*
 * The backend that `scripts/bench.ts` measures, in a process of its own:
 *
 *   BENCH_POLICY=allow|owner node --import tsx scripts/benchBackend.ts --config <file.json>
 *
 * Like src/testing/backendProcess.ts (the permission backend and this plugin),
 * plus the auth backend with the guest provider, so that the bench can also
 * call with a USER token, and a permission policy chosen by BENCH_POLICY:
 *
 * - `allow`: the allow-all policy module;
 * - `owner`: register and delete are allowed; list is the conditional decision
 *   IS_OWNER of
 *   `user:default/owner-1`, so the list becomes a filtered database query.
 *
 * The config file names the database, Llama Stack and a static access token (a
 * service principal). Note: Backstage's permissions service allows every
 * request of a SERVICE principal without asking the policy, so only a user
 * token exercises the `owner` policy.
 */
import { createBackend } from '@backstage/backend-defaults';
import {
  AuthorizeResult,
  isPermission,
} from '@backstage/plugin-permission-common';
import {
  createMcpServerConditionalDecision,
  mcpServerConditions,
  mcpServerDeletePermission,
  mcpServerListPermission,
  mcpServerRegisterPermission,
} from '../src';
import { policyModule } from '../src/testing/policyModule';

export const OWNER_CLAIM = 'user:default/owner-1';

const ownerPolicyModule = policyModule('bench-owner-policy', {
  async handle(request) {
    if (
      isPermission(request.permission, mcpServerRegisterPermission) ||
      isPermission(request.permission, mcpServerDeletePermission)
    ) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (isPermission(request.permission, mcpServerListPermission)) {
      return createMcpServerConditionalDecision(
        request.permission,
        mcpServerConditions.isOwner({ claims: [OWNER_CLAIM] }),
      );
    }
    return { result: AuthorizeResult.DENY };
  },
});

async function main() {
  const policy = process.env.BENCH_POLICY ?? 'allow';
  if (policy !== 'allow' && policy !== 'owner') {
    throw new Error(`BENCH_POLICY must be 'allow' or 'owner', not '${policy}'`);
  }
  const backend = createBackend();
  backend.add(import('@backstage/plugin-auth-backend'));
  backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
  backend.add(import('@backstage/plugin-permission-backend'));
  if (policy === 'allow') {
    backend.add(
      import('@backstage/plugin-permission-backend-module-allow-all-policy'),
    );
  } else {
    backend.add(ownerPolicyModule);
  }
  backend.add(import('../src'));
  await backend.start();
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
