/*
 * A backend started the way Red Hat Developer Hub starts its own: backend
 * defaults plus the dynamic plugins feature loader, which loads every plugin
 * package found in `dynamicPlugins.rootDirectory`. This plugin is not added
 * here: it must come from that folder. The permission backend runs with the
 * allow-all policy.
 *
 * `NODE_PATH=<project>/node_modules node src/tests/dynamicPluginHost.mjs
 * --config <file>`, from the project folder; used by dynamicPlugin.test.ts.
 * Plain JavaScript run by node, as RHDH's backend is: no TypeScript loader
 * stands between the exported package and its bundled dependencies.
 */
import { createBackend } from '@backstage/backend-defaults';
import { dynamicPluginsFeatureLoader } from '@backstage/backend-dynamic-feature-service';

const backend = createBackend();
backend.add(dynamicPluginsFeatureLoader);
backend.add(import('@backstage/plugin-permission-backend'));
backend.add(
  import('@backstage/plugin-permission-backend-module-allow-all-policy'),
);
backend.start();
