// Lint: typescript-eslint's recommended rules and the determinism rule: wall
// clock, host timers and host randomness only inside runtime/adapters/ (and in benchmarks, which measure wall time by design).
// Circular imports are checked by dpdm (`npm run lint:cycles`), which needs no
// native resolver binding.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const determinism = {
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'Use the injected Clock (runtime/env.ts).' },
    { object: 'Math', property: 'random', message: 'Use the injected Rng (runtime/env.ts).' },
    { object: 'performance', property: 'now', message: 'Use the injected Clock (runtime/env.ts).' },
    { object: 'globalThis', property: 'setTimeout', message: 'Use the injected Timers (runtime/env.ts).' },
    { object: 'globalThis', property: 'setInterval', message: 'Use the injected Timers (runtime/env.ts).' },
    { object: 'globalThis', property: 'setImmediate', message: 'Use the injected Timers (runtime/env.ts).' },
  ],
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Use the injected Timers (runtime/env.ts).' },
    { name: 'setInterval', message: 'Use the injected Timers (runtime/env.ts).' },
    { name: 'setImmediate', message: 'Use the injected Timers (runtime/env.ts).' },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use the injected Clock (runtime/env.ts).' },
  ],
  'no-restricted-imports': [
    'error',
    {
      paths: [
        { name: 'node:timers', message: 'Use the injected Timers (runtime/env.ts).' },
        { name: 'timers', message: 'Use the injected Timers (runtime/env.ts).' },
        { name: 'node:timers/promises', message: 'Use the injected Timers (runtime/env.ts).' },
        { name: 'node:perf_hooks', message: 'Use the injected Clock (runtime/env.ts).' },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      ...determinism,
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The only places allowed to touch host time and randomness.
    files: ['runtime/adapters/**/*.ts', 'test/bench/**/*.ts'],
    rules: { 'no-restricted-properties': 'off', 'no-restricted-globals': 'off', 'no-restricted-syntax': 'off', 'no-restricted-imports': 'off' },
  },
);
