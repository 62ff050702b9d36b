import { LoggerService } from '@backstage/backend-plugin-api';
import { PluginConfig } from '../config/readPluginConfig';
import { LightspeedStackUpstream } from './lightspeedStack/LightspeedStackUpstream';
import { LlamaStackClient } from './llamaStack/LlamaStackClient';
import { LlamaStackUpstream } from './llamaStack/LlamaStackUpstream';
import { ToolgroupSync } from './llamaStack/ToolgroupSync';
import { Upstream, UpstreamConnection } from './Upstream';

/** The configured upstream and its connection (config allows exactly one). */
export function createUpstream(
  config: Pick<PluginConfig, 'llamaStack' | 'lightspeedStack'>,
  logger: LoggerService,
): { upstream: Upstream; connection: UpstreamConnection } {
  if (config.lightspeedStack) {
    return {
      upstream: new LightspeedStackUpstream(config.lightspeedStack),
      connection: config.lightspeedStack,
    };
  }
  const llamaStack = config.llamaStack!;
  const client = new LlamaStackClient(llamaStack);
  const sync = new ToolgroupSync(llamaStack.toolgroups, client, logger);
  return {
    upstream: new LlamaStackUpstream(client, sync),
    connection: llamaStack,
  };
}
