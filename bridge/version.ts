import { createRequire } from 'node:module';

/** The package version, read once from package.json (bundled by tsup into dist). */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
