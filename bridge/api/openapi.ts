import { z } from 'zod';
import type { AnyRoute } from './route.ts';
import { WS_PATH } from './websocket.ts';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe('stable machine-readable code, e.g. bad_request, unauthorized, not_found'),
    message: z.string().describe('one sentence for humans'),
    fields: z.record(z.string(), z.string()).optional().describe('offending inputs by name'),
  }),
});

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const s = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: prop,
    ...(typeof prop.description === 'string' && { description: prop.description }),
  }));
}

/** OpenAPI 3.1 built from the route table: the same zod schemas validate requests and describe them. */
export function openApiDocument(routes: readonly AnyRoute[], version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of routes) {
    const status = String(r.status ?? (r.response ? 200 : 204));
    const operation: JsonSchema = {
      operationId: `${r.method}${r.path.replace(/\{([a-z_]+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: r.summary,
      'x-pidrive-access': r.access,
      security: r.access === 'public' ? [] : [{ bearer: [] }, { session: [] }],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      responses: {
        [status]: {
          description: 'success',
          ...(r.response && { content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } }),
        },
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    if (r.body) operation.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } };
    (paths[r.path] ??= {})[r.method] = operation;
  }
  paths[WS_PATH.replace('/api/v1', '')] = {
    get: {
      operationId: 'websocket',
      summary: 'WebSocket (upgrade): the bridge state and every visible drive, then live changes as {"topic", "payload"}',
      'x-pidrive-access': 'viewer',
      security: [{ bearer: [] }, { session: [] }],
      responses: { '101': { description: 'switching protocols' }, default: { description: 'refused', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'PiDrive bridge API', version, description: 'Virtual USB drives: drives, attachment, backups, users and tokens.' },
    servers: [{ url: '/api/v1' }],
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorBody, 'output') },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API token (pidrive token create)' },
        session: { type: 'apiKey', in: 'cookie', name: 'pidrive_session', description: 'browser session (POST /session); state changes also need X-CSRF-Token' },
      },
    },
  };
}
