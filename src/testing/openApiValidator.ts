import Ajv2020, { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import fs from 'node:fs';
import path from 'node:path';
import type { Response, Test } from 'supertest';
import YAML from 'yaml';

/**
 * Checks HTTP answers against src/schema/openapi.yaml, so that the document
 * cannot drift from the code: an answer with a status the document does not
 * list, or a body with a field it does not name, is a problem.
 */

const DOCUMENT_FILE = path.resolve(__dirname, '../schema/openapi.yaml');
const DOCUMENT_ID = 'openapi.yaml';
const PLUGIN_BASE = '/api/lightspeed-mcp';
const ERROR_SCHEMA_REF = '#/components/schemas/Error';
const OPERATION_METHODS = [
  'get',
  'put',
  'post',
  'delete',
  'options',
  'head',
  'patch',
  'trace',
];

type Json = Record<string, unknown>;

interface PathTemplate {
  template: string;
  segments: string[];
}

interface Loaded {
  document: { paths: Record<string, Json> };
  ajv: Ajv2020;
  templates: PathTemplate[];
  validators: Map<string, ValidateFunction>;
}

let loaded: Loaded | undefined;

function load(): Loaded {
  if (loaded) {
    return loaded;
  }
  const document = YAML.parse(fs.readFileSync(DOCUMENT_FILE, 'utf8'));
  const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true });
  // Own checks instead of ajv-formats, which is not a dependency.
  ajv.addFormat('date-time', isDateTime);
  ajv.addFormat('uri', value => URL.canParse(value));
  // The whole document, so that schemas reach each other by
  // `#/components/schemas/X` as they do in it. Its top-level fields are
  // no schema keywords; named, strict mode lets them be.
  ajv.addVocabulary(Object.keys(document));
  ajv.addSchema(document, DOCUMENT_ID);
  const templates = Object.keys(document.paths).map(template => ({
    template,
    segments: template.split('/').slice(1),
  }));
  loaded = { document, ajv, templates, validators: new Map() };
  return loaded;
}

function isDateTime(value: string): boolean {
  const rfc3339 =
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;
  return rfc3339.test(value) && !Number.isNaN(Date.parse(value));
}

/**
 * The problems of one answer, each naming the request: an unknown path or
 * method, a status the operation does not list, or a JSON body that does
 * not match the documented schema. Empty for an answer that matches, and
 * for paths outside the plugin (other plugins, Backstage's own routes).
 *
 * `requestPath` may carry the plugin's base `/api/lightspeed-mcp` and a
 * query string. A non-JSON answer is only checked for its status.
 */
export function openApiProblems(
  method: string,
  requestPath: string,
  status: number,
  contentType: string | undefined,
  body: unknown,
): string[] {
  const pathname = pluginPath(requestPath);
  if (pathname === undefined) {
    return [];
  }
  const { document } = load();
  const verb = method.toUpperCase();
  const where = `${verb} ${requestPath} answered ${status}`;

  const template = matchTemplate(pathname, method.toLowerCase());
  if (!template) {
    return [`${where}: openapi.yaml has no path that matches ${pathname}`];
  }
  const pathItem = document.paths[template];
  const operation = OPERATION_METHODS.includes(method.toLowerCase())
    ? (pathItem[method.toLowerCase()] as Json | undefined)
    : undefined;
  if (!operation) {
    const documented = OPERATION_METHODS.filter(m => m in pathItem)
      .map(m => m.toUpperCase())
      .join(', ');
    return [
      `${where}: openapi.yaml has no ${verb} ${template} ` +
        `(only ${documented})`,
    ];
  }

  const responses = operation.responses as Json;
  const key = [String(status), `${String(status)[0]}XX`, 'default'].find(
    candidate => candidate in responses,
  );
  if (!key) {
    return [
      `${where}: openapi.yaml does not list ${status} for ` +
        `${verb} ${template} (it lists ${Object.keys(responses).join(', ')})`,
    ];
  }
  if (!isJson(contentType)) {
    return [];
  }

  const responsePointer = followRefs(
    `/paths/${escapeToken(template)}/${method.toLowerCase()}/responses/${key}`,
  );
  const schemaPointer = `${responsePointer}/content/application~1json/schema`;
  const schema = resolvePointer(schemaPointer) as Json | undefined;
  if (!schema) {
    return [
      `${where}: answered ${contentType}, but openapi.yaml documents ` +
        `no JSON body for ${key}`,
    ];
  }

  const validate = validatorFor(schemaPointer);
  const problems = validate(body)
    ? []
    : (validate.errors ?? [])
        // The errors of `then`/`else` say what is wrong; `if`'s repeat it.
        .filter(error => error.keyword !== 'if')
        .map(error => describeError(error, body));
  // Backstage's error body repeats the status; another one means some
  // handler wrote an error body of its own.
  const statusCode = (body as { response?: { statusCode?: unknown } })?.response
    ?.statusCode;
  if (schema.$ref === ERROR_SCHEMA_REF && statusCode !== status) {
    problems.push(
      `/response/statusCode is ${JSON.stringify(statusCode)}, ` +
        `not the status ${status}`,
    );
  }
  return problems.map(problem => `${where}: ${problem}`);
}

/** The path inside the plugin, or undefined for any other path. */
function pluginPath(requestPath: string): string | undefined {
  const pathname = requestPath
    .replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '')
    .replace(/[?#].*$/s, '');
  let inside = pathname;
  if (pathname === PLUGIN_BASE || pathname.startsWith(`${PLUGIN_BASE}/`)) {
    inside = pathname.slice(PLUGIN_BASE.length) || '/';
  } else if (pathname === '/api' || pathname.startsWith('/api/')) {
    return undefined;
  }
  // Backstage's own routes (/.backstage/..., and the permission
  // integration's /.well-known/... inside the plugin) are not ours.
  if (inside.startsWith('/.')) {
    return undefined;
  }
  // Express's default routing ignores one trailing slash.
  return inside.length > 1 ? inside.replace(/\/$/, '') : inside;
}

/**
 * The template of openapi.yaml that a path matches: `{param}` matches one
 * non-empty segment (URL-encoded, so never a `/`), literal segments match
 * case-insensitively as Express's default routing does, and a literal
 * segment wins over a template at the same place, among the templates that
 * have the method (Express routes by method too: `PATCH /mcp-servers/validate`
 * is `PATCH /mcp-servers/{name}`, as `/mcp-servers/validate` has only POST).
 * When none has it, the most literal one, for the problem to name.
 */
function matchTemplate(pathname: string, method: string): string | undefined {
  const { document, templates } = load();
  const segments = pathname.split('/').slice(1);
  const matches = templates.filter(
    ({ segments: parts }) =>
      parts.length === segments.length &&
      parts.every((part, i) =>
        isParam(part)
          ? segments[i] !== ''
          : part.toLowerCase() === segments[i].toLowerCase(),
      ),
  );
  matches.sort((a, b) => {
    for (let i = 0; i < a.segments.length; i++) {
      const difference =
        Number(isParam(a.segments[i])) - Number(isParam(b.segments[i]));
      if (difference !== 0) {
        return difference;
      }
    }
    return 0;
  });
  const withMethod = matches.find(
    ({ template }) =>
      OPERATION_METHODS.includes(method) && method in document.paths[template],
  );
  return (withMethod ?? matches[0])?.template;
}

function isParam(segment: string): boolean {
  return /^\{[^}]+\}$/.test(segment);
}

function isJson(contentType: string | undefined): boolean {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || !!type?.endsWith('+json');
}

function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The value at a JSON pointer of the document, or undefined. */
function resolvePointer(pointer: string): unknown {
  let value: unknown = load().document;
  for (const raw of pointer.split('/').slice(1)) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!value || typeof value !== 'object' || !(token in value)) {
      return undefined;
    }
    value = (value as Json)[token];
  }
  return value;
}

/** Follows Reference Objects (`$ref: '#/components/responses/X'`). */
function followRefs(pointer: string): string {
  let current = pointer;
  for (let hops = 0; hops < 10; hops++) {
    const ref = (resolvePointer(current) as Json | undefined)?.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/')) {
      return current;
    }
    current = ref.slice(1);
  }
  throw new Error(`openapi.yaml: $ref loop at ${pointer}`);
}

function validatorFor(pointer: string): ValidateFunction {
  const { ajv, validators } = load();
  let validate = validators.get(pointer);
  if (!validate) {
    const fragment = pointer
      .split('/')
      .map(token => encodeURIComponent(token))
      .join('/');
    validate = ajv.compile({ $ref: `${DOCUMENT_ID}#${fragment}` });
    validators.set(pointer, validate);
  }
  return validate;
}

/** One ajv error, readable: where, what, and the value found there. */
function describeError(error: ErrorObject, body: unknown): string {
  const at = error.instancePath || '(body)';
  const params = error.params as Record<string, unknown>;
  const found = shown(valueAt(body, error.instancePath));
  switch (error.keyword) {
    case 'additionalProperties':
      return (
        `${at} has a field the document does not name: ` +
        `'${params.additionalProperty}'`
      );
    case 'required':
      return `${at} lacks the required field '${params.missingProperty}'`;
    case 'false schema':
      return `${at} must not be there`;
    case 'enum': {
      const allowed = (params.allowedValues as unknown[])
        .map(value => JSON.stringify(value))
        .join(', ');
      return `${at} ${error.message} ${allowed}, not ${found}`;
    }
    default:
      return `${at} ${error.message}, not ${found}`;
  }
}

function valueAt(body: unknown, instancePath: string): unknown {
  let value = body;
  for (const raw of instancePath.split('/').slice(1)) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    value = (value as Json | undefined)?.[token];
  }
  return value;
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const CHECKED_METHODS = new Set(['get', 'post', 'patch', 'put', 'delete']);

/**
 * Wraps a supertest agent (`request(server)`) so that every request made
 * through `.get/.post/.patch/.put/.delete(url)` fails when its answer does
 * not match openapi.yaml. The supertest chain stays as it is.
 */
export function withOpenApiCheck<T extends object>(agent: T): T {
  return new Proxy(agent, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      const method = property === 'del' ? 'delete' : property;
      if (
        typeof method !== 'string' ||
        !CHECKED_METHODS.has(method) ||
        typeof value !== 'function'
      ) {
        return value;
      }
      return (url: string, ...rest: unknown[]) =>
        checked(value.call(target, url, ...rest), method, url);
    },
  });
}

function checked(test: Test, method: string, url: string): Test {
  // Where the request was made, for the failure's stack: the check itself
  // runs from the promise machinery.
  const origin = new Error().stack?.split('\n').slice(2).join('\n') ?? '';
  const assertion = (res: Response) => {
    const problems = openApiProblems(
      method,
      url,
      res.status,
      res.headers['content-type'],
      res.body,
    );
    if (problems.length > 0) {
      const message =
        'The answer does not match src/schema/openapi.yaml:\n' +
        problems.map(problem => `  - ${problem}`).join('\n');
      const error = new Error(message);
      error.stack = `Error: ${message}\n${origin}`;
      throw error;
    }
  };
  // Added when the request is sent (await, .then or .end all go through
  // end), after the test's own .expect()s, so theirs report first.
  const end = test.end;
  let added = false;
  test.end = function (this: Test, ...args: Parameters<Test['end']>) {
    if (!added) {
      added = true;
      this.expect(assertion);
    }
    return end.apply(this, args);
  };
  return test;
}
