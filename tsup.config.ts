import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { cli: 'bridge/cli/main.ts' },
  format: ['esm'],
  target: 'node22',
  platform: 'node',
  outDir: 'dist',
  clean: true,
  sourcemap: true,
  banner: { js: '#!/usr/bin/env node' },
});
