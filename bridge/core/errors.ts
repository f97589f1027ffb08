/**
 * The one error type every capability throws for an expected failure. `code` is stable and
 * machine-readable; `status` maps it to HTTP; `exitCode` maps it to the CLI (1 = the operation
 * failed, 2 = bad usage or config); `fields` names the offending inputs.
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_config'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unavailable'
  | 'insufficient_space'
  | 'missing_tool'
  | 'unsupported'
  | 'too_large'
  | 'rate_limited'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_config: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  insufficient_space: 507,
  missing_tool: 500,
  unsupported: 422,
  too_large: 413,
  rate_limited: 429,
  internal: 500,
};

export type ErrorFields = Record<string, string>;

export class PiDriveError extends Error {
  readonly code: ErrorCode;
  readonly fields: ErrorFields | undefined;

  constructor(code: ErrorCode, message: string, fields?: ErrorFields) {
    super(message);
    this.name = 'PiDriveError';
    this.code = code;
    this.fields = fields;
  }

  get status(): number {
    return STATUS[this.code];
  }

  get exitCode(): 1 | 2 {
    return this.code === 'bad_request' || this.code === 'invalid_config' ? 2 : 1;
  }

  toJSON(): { error: { code: ErrorCode; message: string; fields?: ErrorFields } } {
    return { error: { code: this.code, message: this.message, ...(this.fields ? { fields: this.fields } : {}) } };
  }
}

/** Turns a zod error into one PiDriveError that names every offending path. */
export function fromZodIssues(
  code: ErrorCode,
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  prefix = '',
): PiDriveError {
  const fields: ErrorFields = {};
  for (const issue of issues) {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)';
    fields[path] ??= issue.message;
  }
  const message = Object.entries(fields)
    .map(([path, msg]) => `${path}: ${msg}`)
    .join('; ');
  return new PiDriveError(code, message, fields);
}

/** Any thrown value as a PiDriveError, hiding internals of unexpected errors. */
export function asPiDriveError(err: unknown): PiDriveError {
  if (err instanceof PiDriveError) return err;
  return new PiDriveError('internal', 'internal error');
}
