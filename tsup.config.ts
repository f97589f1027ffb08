import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { cli: 'bridge/cli/main.ts' },
  format: ['esm'],
  target: 'node22',
  platform: 'node',
  outDir: 'dist',
  clean: true,
  sourcemap: true,
  // No shebang banner: esbuild keeps the one bridge/cli/main.ts starts with, and a second is a SyntaxError.
});
