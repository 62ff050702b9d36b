/*
 * The hash of what `npm run export-dynamic` builds dist-dynamic/ from: the
 * package's sources (tests left out), migrations, config schema, manifests and
 * build settings. scripts/exportDynamic.sh stores it in
 * dist-dynamic/.export-inputs; the loading test exports again when it differs.
 *
 * `npx tsx scripts/exportInputs.ts` prints it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const FILES = [
  'package.json',
  'package-lock.json',
  'config.d.ts',
  'README.md',
  'tsconfig.json',
  'tsconfig.build.json',
  'scripts/exportDynamic.sh',
];
const FOLDERS = ['src', 'migrations'];

function isBuildInput(relative: string): boolean {
  const parts = relative.split(path.sep);
  return (
    !relative.endsWith('.test.ts') &&
    !parts.includes('testing') &&
    !parts.includes('tests')
  );
}

function listFiles(root: string, folder: string): string[] {
  return fs
    .readdirSync(path.join(root, folder), {
      recursive: true,
      withFileTypes: true,
    })
    .filter(entry => entry.isFile())
    .map(entry =>
      path.relative(
        root,
        path.join(entry.parentPath ?? entry.path, entry.name),
      ),
    )
    .filter(isBuildInput);
}

export function exportInputsHash(root: string): string {
  const files = [
    ...FILES,
    ...FOLDERS.flatMap(folder => listFiles(root, folder)),
  ].sort();
  const hash = crypto.createHash('sha256');
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

if (require.main === module) {
  process.stdout.write(`${exportInputsHash(path.resolve(__dirname, '..'))}\n`);
}
