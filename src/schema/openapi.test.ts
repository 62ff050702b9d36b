import express from 'express';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import YAML from 'yaml';
import { openApiProblems, withOpenApiCheck } from '../testing/openApiValidator';
import { spec } from './openapi.generated';

const BASE = '/api/lightspeed-mcp/v1/mcp-servers';
const JSON_TYPE = 'application/json; charset=utf-8';

const configServer = {
  name: 'docs',
  url: 'https://mcp.example.com/mcp',
  provider_id: 'model-context-protocol',
  source: 'config',
  status: 'registered',
  authorization_headers: { Authorization: 'client' },
  headers: ['x-request-id'],
  timeout: 30,
};

const apiServer = {
  name: 'team a: tools',
  url: 'http://tools.example/mcp',
  provider_id: 'model-context-protocol',
  source: 'api',
  status: 'error',
  status_message: 'Llama Stack is unavailable',
  created_by: 'user:default/alice',
  created_at: '2026-05-04T10:11:12.000Z',
  last_check: {
    status: 'unreachable',
    tool_count: null,
    checked_at: '2026-05-04T10:12:00.000Z',
    message: 'Could not connect to the MCP server (ECONNREFUSED)',
  },
};

function errorBody(status: number, name: string, message: string) {
  return {
    error: { name, message },
    request: { method: 'GET', url: `${BASE}/docs` },
    response: { statusCode: status },
  };
}

describe('openApiProblems', () => {
  it('passes a correct list answer', () => {
    const body = { servers: [configServer, apiServer], next_cursor: 'YTEwMA' };

    expect(
      openApiProblems('GET', `${BASE}?limit=2`, 200, JSON_TYPE, body),
    ).toEqual([]);
  });

  it('fails a list entry with a field the document does not name', () => {
    const body = { servers: [{ ...configServer, enabled: true }] };

    const problems = openApiProblems('GET', BASE, 200, JSON_TYPE, body);

    expect(problems).toEqual([
      expect.stringMatching(/\/servers\/0 has a field .*'enabled'/),
    ]);
  });

  it('fails a field of the wrong type or value', () => {
    const body = { servers: [{ ...configServer, status: 'bogus' }] };

    const problems = openApiProblems('GET', BASE, 200, JSON_TYPE, body);

    expect(problems).toEqual([
      expect.stringMatching(/\/servers\/0\/status .*not "bogus"/),
    ]);
  });

  it('ties status_message to the error status', () => {
    const { status_message: _dropped, ...withoutMessage } = apiServer;
    const body = {
      servers: [withoutMessage, { ...configServer, status_message: 'x' }],
    };

    const problems = openApiProblems('GET', BASE, 200, JSON_TYPE, body);

    expect(problems).toEqual([
      expect.stringMatching(/\/servers\/0 lacks .*'status_message'/),
      expect.stringMatching(/\/servers\/1\/status_message must not be there/),
    ]);
  });

  it('fails a status the operation does not list', () => {
    expect(
      openApiProblems('DELETE', `${BASE}/docs`, 502, JSON_TYPE, {}),
    ).toEqual([expect.stringContaining('does not list 502')]);
  });

  it('fails an unknown path or method', () => {
    expect(openApiProblems('GET', `${BASE}/a/b/c`, 404, undefined, {})).toEqual(
      [expect.stringContaining('no path that matches /v1/mcp-servers/a/b/c')],
    );
    expect(openApiProblems('PUT', `${BASE}/docs`, 404, undefined, {})).toEqual([
      expect.stringContaining('has no PUT /v1/mcp-servers/{name}'),
    ]);
  });

  it('matches URL-encoded names, literal segments first', () => {
    const name = encodeURIComponent('team a: tools/x');
    const check = {
      status: 'ok',
      tool_count: 1,
      tools: [{ name: 'search', description: 'Searches' }],
      checked_at: '2026-05-04T10:12:00.000Z',
      message: 'Connected; the server offers 1 tool',
    };

    expect(
      openApiProblems('POST', `${BASE}/${name}/check`, 200, JSON_TYPE, check),
    ).toEqual([]);
    expect(
      openApiProblems('GET', `${BASE}/check`, 200, JSON_TYPE, configServer),
    ).toEqual([]);
    // The check answer is not a server: it matched /check, not /{name}.
    expect(
      openApiProblems('GET', `${BASE}/${name}`, 200, JSON_TYPE, check),
    ).not.toEqual([]);
  });

  it('passes an error body, and fails one with another status', () => {
    const body = errorBody(404, 'NotFoundError', "MCP server 'x' is missing");

    expect(openApiProblems('GET', `${BASE}/x`, 404, JSON_TYPE, body)).toEqual(
      [],
    );
    expect(
      openApiProblems('GET', `${BASE}/x`, 404, JSON_TYPE, { error: 'x' }),
    ).not.toEqual([]);
    expect(openApiProblems('GET', `${BASE}/x`, 403, JSON_TYPE, body)).toEqual([
      expect.stringContaining('/response/statusCode is 404'),
    ]);
  });

  it('checks only the status of an answer that is not JSON', () => {
    expect(openApiProblems('GET', BASE, 401, 'text/html', '<p>no</p>')).toEqual(
      [],
    );
    expect(openApiProblems('GET', BASE, 404, 'text/html', '<p>no</p>')).toEqual(
      [expect.stringContaining('does not list 404')],
    );
  });

  it('leaves paths outside the plugin alone', () => {
    for (const other of [
      '/api/permission/authorize',
      '/.backstage/health/v1/readiness',
      '/api/lightspeed-mcp/.well-known/backstage/permissions/metadata',
    ]) {
      expect(openApiProblems('GET', other, 418, JSON_TYPE, {})).toEqual([]);
    }
  });

  it('ties tool_count to the check status', () => {
    const check = {
      status: 'error',
      tool_count: 0,
      tools: [],
      checked_at: '2026-05-04T10:12:00.000Z',
      message: 'The MCP server answered HTTP 500',
    };

    expect(
      openApiProblems('POST', `${BASE}/docs/check`, 200, JSON_TYPE, check),
    ).toEqual([expect.stringContaining('/tool_count must be null')]);
  });
});

describe('openApiProblems of the settings routes', () => {
  const SETTINGS = '/api/lightspeed-mcp/mcp-servers';
  const userServer = {
    name: 'docs',
    url: 'https://mcp.example.com/mcp',
    enabled: true,
    status: 'connected',
    toolCount: 2,
    hasToken: true,
    hasUserToken: false,
    source: 'config',
  };

  it('passes a settings list answer', () => {
    const body = {
      servers: [userServer, { ...userServer, status: 'unknown' }],
    };

    expect(openApiProblems('GET', SETTINGS, 200, JSON_TYPE, body)).toEqual([]);
  });

  it('fails a settings list entry with a field the document does not name', () => {
    const body = { servers: [{ ...userServer, token: 'secret' }] };

    expect(openApiProblems('GET', SETTINGS, 200, JSON_TYPE, body)).toEqual([
      expect.stringMatching(/\/servers\/0 has a field .*'token'/),
    ]);
  });

  it("passes the settings error body, and fails Backstage's there", () => {
    const url = `${SETTINGS}/x`;
    const message = "At least one of 'enabled' or 'token' is required";

    expect(
      openApiProblems('PATCH', url, 400, JSON_TYPE, { error: message }),
    ).toEqual([]);
    expect(
      openApiProblems(
        'PATCH',
        url,
        400,
        JSON_TYPE,
        errorBody(400, 'InputError', message),
      ),
    ).not.toEqual([]);
  });

  it('ties error to an invalid validation', () => {
    const url = `${SETTINGS}/validate`;
    const valid = { valid: true, toolCount: 1, tools: [{ name: 'search' }] };
    const invalid = {
      valid: false,
      toolCount: 0,
      tools: [],
      error: 'The MCP server requires authorization (HTTP 401)',
    };

    expect(openApiProblems('POST', url, 200, JSON_TYPE, valid)).toEqual([]);
    expect(openApiProblems('POST', url, 200, JSON_TYPE, invalid)).toEqual([]);
    expect(
      openApiProblems('POST', url, 200, JSON_TYPE, { ...valid, error: 'x' }),
    ).toEqual([expect.stringContaining('/error must not be there')]);
    expect(
      openApiProblems('POST', url, 200, JSON_TYPE, {
        valid: false,
        toolCount: 0,
        tools: [],
      }),
    ).toEqual([expect.stringContaining("lacks the required field 'error'")]);
  });

  it('matches a server named validate by the method, as Express does', () => {
    const url = `${SETTINGS}/validate`;
    const body = { server: { ...userServer, name: 'validate' } };

    expect(openApiProblems('PATCH', url, 200, JSON_TYPE, body)).toEqual([]);
    expect(openApiProblems('PUT', url, 200, JSON_TYPE, body)).toEqual([
      expect.stringContaining('has no PUT /mcp-servers/validate (only POST)'),
    ]);
  });

  it('checks the MCP-HEADERS answer', () => {
    const url = '/api/lightspeed-mcp/v1/mcp-headers';

    expect(
      openApiProblems('GET', url, 200, JSON_TYPE, {
        docs: { Authorization: 't' },
      }),
    ).toEqual([]);
    expect(
      openApiProblems('GET', url, 200, JSON_TYPE, {
        docs: { Authorization: 1 },
      }),
    ).toEqual([expect.stringContaining('/docs/Authorization must be string')]);
  });
});

describe('withOpenApiCheck', () => {
  const app = express();
  app.use(express.json());
  app.get(`${BASE}/:name`, (req, res) => {
    res.json(
      req.params.name === 'drifted'
        ? { ...configServer, enabled: true }
        : configServer,
    );
  });
  app.post(BASE, (req, res) => {
    res.status(201).json({ ...req.body, message: 'registered' });
  });

  it('passes a matching answer through the supertest chain', async () => {
    const http = withOpenApiCheck(request(app));

    const res = await http
      .post(BASE)
      .set('authorization', 'Bearer x')
      .send({ ...configServer, source: 'api' })
      .expect(201);

    expect(res.body.message).toBe('registered');
    await http.get(`${BASE}/docs`).expect(200);
  });

  it('fails the request whose answer does not match', async () => {
    const http = withOpenApiCheck(request(app));

    await expect(http.get(`${BASE}/drifted`)).rejects.toThrow(
      /does not match src\/schema\/openapi.yaml[\s\S]*'enabled'/,
    );
  });

  it("lets the test's own expectations report first", async () => {
    const http = withOpenApiCheck(request(app));

    await expect(http.get(`${BASE}/drifted`).expect(201)).rejects.toThrow(
      'expected 201 "Created", got 200 "OK"',
    );
  });
});

describe('openapi.generated.ts', () => {
  it('is the document of openapi.yaml (npm run schema:generate)', () => {
    const file = path.join(__dirname, 'openapi.yaml');

    expect(spec).toEqual(YAML.parse(fs.readFileSync(file, 'utf8')));
  });
});
