import { z } from 'zod';
import { CreatedToken, CreateTokenInput, Token, TokenName } from '../../auth/model.ts';
import { defineRoute, type AnyRoute } from '../route.ts';

const TokenParams = z.object({ name: TokenName }).strict();

export const tokenRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/tokens',
    summary: 'API tokens (never their secrets)',
    access: 'admin',
    response: z.array(Token),
    handler: ({ deps }) => deps.auth.tokens.list(),
  }),
  defineRoute({
    method: 'post',
    path: '/tokens',
    summary: 'Create an API token; the secret is in this answer only',
    access: 'admin',
    body: CreateTokenInput,
    response: CreatedToken,
    status: 201,
    audit: { action: 'token.create' },
    handler({ deps, body, principal, audit }) {
      const created = deps.auth.tokens.create(body, principal.actor);
      audit.details = { name: created.name, role: created.role, drives: created.drives, expires_at: created.expires_at };
      return created;
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/tokens/{name}',
    summary: 'Revoke an API token',
    access: 'admin',
    params: TokenParams,
    audit: { action: 'token.revoke' },
    handler({ deps, params, audit }) {
      deps.auth.tokens.revoke(params.name);
      audit.details = { name: params.name };
    },
  }),
];
