#!/usr/bin/env bash
# npm run export-dynamic: builds the package, then exports it with RHDH's CLI
# (`rhdh-cli plugin export`) into dist-dynamic/, the dynamic plugin package
# that Red Hat Developer Hub loads. See docs/rhdh.md.
#
# The CLI is written for yarn workspaces: it runs `yarn --version` and
# `yarn install --production` and needs a yarn.lock. This project uses npm, so
# this script:
#   - puts yarn 1 on the PATH for the CLI (npm exec, nothing installed here);
#   - derives a yarn.lock from package-lock.json in a temporary folder (npm
#     lockfile v2, then `yarn import`), so the bundled dependencies have the
#     versions the tests ran with, and no yarn.lock is ever written here;
#   - exports from a staged copy of the package without its devDependencies:
#     the CLI collects the config schemas of every dependency it can reach,
#     devDependencies included, so an export from here would also ship the
#     `auth` and `mcpActions` schemas of backends that only the tests and the
#     dev backend use. The exported package.json has no devDependencies anyway.
# `--no-build` skips `npm run build` when dist/ was just built.
# It writes dist-dynamic/.export-inputs, the hash of what the export was made
# from (scripts/exportInputs.ts), so the loading test can reuse a fresh export.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
yarn_package=yarn@1.22.22

build=true
for arg in "$@"; do
  case "$arg" in
    --no-build) build=false ;;
    *)
      echo "usage: npm run export-dynamic [-- --no-build]" >&2
      exit 2
      ;;
  esac
done

if [[ -z "${EXPORT_DYNAMIC_WITH_YARN:-}" ]]; then
  if command -v yarn >/dev/null 2>&1 && [[ "$(yarn --version)" == 1.* ]]; then
    export EXPORT_DYNAMIC_WITH_YARN="$(command -v yarn)"
  else
    # Runs this script again with yarn 1 on the PATH.
    EXPORT_DYNAMIC_WITH_YARN=npm-exec exec npm exec --yes \
      --package="$yarn_package" -- bash "$0" "$@"
  fi
fi
echo "== yarn $(yarn --version) ($(command -v yarn))"

# What this export is made from, taken before the build reads it.
inputs=$(npx tsx scripts/exportInputs.ts)

if $build; then
  echo "== build"
  npm run build
elif [[ ! -f dist/index.cjs.js ]]; then
  echo "dist/index.cjs.js is missing: run npm run build first" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lightspeed-mcp-export.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== yarn.lock from package-lock.json"
mkdir "$work/lock"
cp package.json package-lock.json "$work/lock/"
(
  cd "$work/lock"
  # yarn import reads npm lockfiles up to v2.
  npm install --package-lock-only --lockfile-version 2 --ignore-scripts \
    --no-audit --no-fund --loglevel=error
  yarn import --ignore-engines --non-interactive >yarn-import.log 2>&1 ||
    { cat yarn-import.log >&2; exit 1; }
)

echo "== staged package (no devDependencies)"
stage="$work/package"
mkdir "$stage"
node -e '
  const fs = require("fs");
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  for (const key of ["devDependencies", "overrides", "scripts"]) delete pkg[key];
  fs.writeFileSync(process.argv[1], JSON.stringify(pkg, null, 2) + "\n");
' "$stage/package.json"
cp -R dist migrations config.d.ts README.md "$stage/"
cp "$work/lock/yarn.lock" "$stage/yarn.lock"
# Dependencies resolve from this project's node_modules, as they would here.
ln -s "$root/node_modules" "$stage/node_modules"

echo "== rhdh-cli plugin export"
(cd "$stage" && "$root/node_modules/.bin/rhdh-cli" plugin export --no-build)

echo "== check"
node -e '
  const schema = require(process.argv[1]);
  const keys = Object.keys(schema.properties ?? {});
  if (keys.join() !== "lightspeedMcp") {
    console.error(`configSchema.json should describe lightspeedMcp only, found: ${keys.join(", ")}`);
    process.exit(1);
  }
' "$stage/dist-dynamic/dist/configSchema.json"

rm -rf dist-dynamic
cp -R "$stage/dist-dynamic" dist-dynamic
echo "$inputs" >dist-dynamic/.export-inputs
echo "== dist-dynamic/ ($(du -sh dist-dynamic | cut -f1)): $(node -p 'require("./dist-dynamic/package.json").name')"
