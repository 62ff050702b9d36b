// ESLint with TypeScript rules; formatting is prettier's job (npm run format:check).
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

module.exports = tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'dist-types/',
      'dist-dynamic/',
      'src/schema/openapi.generated.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        __dirname: 'readonly',
        __filename: 'readonly',
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
      // The plugin logs through Backstage's LoggerService; dev/ and scripts/ may print.
      'no-console': 'error',
      eqeqeq: ['error', 'smart'],
      'no-nested-ternary': 'error',
    },
  },
  {
    files: ['dev/**', 'scripts/**', 'src/testing/**', '**/*.test.ts'],
    rules: {
      'no-console': 'off',
      // Tests poke at untyped answers and patch libraries.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // knex migrations and this config are CommonJS.
    files: ['migrations/**/*.js', '*.js'],
    languageOptions: { globals: { exports: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
