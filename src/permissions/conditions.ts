import {
  AuthorizeResult,
  ConditionalPolicyDecision,
  PermissionCriteria,
} from '@backstage/plugin-permission-common';
import {
  createConditionAuthorizer,
  createConditionTransformer,
  PermissionRuleset,
} from '@backstage/plugin-permission-node';
import { McpServer, McpServerFilter } from '../mcpServers/types';

/**
 * What a conditional decision lets the caller see: a filter for the database,
 * and the same test for servers held in memory (those of app-config, or one
 * server about to be deleted).
 */
export interface ServerCondition {
  filter: PermissionCriteria<McpServerFilter>;
  matches(server: McpServer): boolean;
}

export function createServerConditions(
  ruleset: PermissionRuleset<McpServer, McpServerFilter>,
) {
  const toFilter = createConditionTransformer(ruleset);
  const authorizer = createConditionAuthorizer(ruleset);
  return (decision: ConditionalPolicyDecision): ServerCondition => ({
    filter: toFilter(decision.conditions),
    matches: server =>
      authorizer({ ...decision, result: AuthorizeResult.CONDITIONAL }, server),
  });
}
