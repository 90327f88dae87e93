#!/usr/bin/env node
// The package's `install` script: builds build/Release/runlog.node with cmake-js.
//
// npm runs it in two cases:
//   - `npm install` in this folder: npm has installed node-addon-api and cmake-js
//     into ./node_modules first;
//   - `npm install <this folder>` from another project: npm links the folder
//     (node_modules/runlog -> this folder) and runs this script here, but does not
//     install this folder's own dependencies (npm 7 and later). So when they are
//     missing, they are installed first with `npm ci --ignore-scripts` from the
//     package-lock.json beside this file (from the npm registry or npm's cache),
//     then the addon is built.
// Nothing is downloaded at build time: cmake-js takes node_api.h from the system
// (see CMakeLists.txt and "binary.napi_versions" in package.json).
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(__dirname, '..');

function resolvable(name) {
  try {
    require.resolve(`${name}/package.json`, { paths: [dir] });
    return true;
  } catch {
    return false;
  }
}

function run(cmd, args) {
  const res = spawnSync(cmd, args, { cwd: dir, stdio: 'inherit', env: childEnv() });
  if (res.error) throw res.error;
  if (res.status !== 0) process.exit(res.status ?? 1);
}

// The environment npm gives a lifecycle script describes the project being
// installed into (npm_config_global, npm_config_prefix, ...); a nested npm must
// work on this folder instead.
function childEnv() {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_config_(global|prefix|local_prefix|location|save.*|package_lock.*|install_links|workspaces?|include_workspace_root)$/i.test(key)) {
      delete env[key];
    }
  }
  return env;
}

if (!resolvable('node-addon-api') || !resolvable('cmake-js')) {
  console.error(`runlog: installing node-addon-api and cmake-js into ${path.join(dir, 'node_modules')}`);
  const npmCli = process.env.npm_execpath;
  const [cmd, pre] = npmCli && fs.existsSync(npmCli) && npmCli.endsWith('.js')
    ? [process.execPath, [npmCli]]
    : ['npm', []];
  run(cmd, [...pre, 'ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error']);
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [dir] });
run(process.execPath, [cmakeJs, 'compile', '--parallel', '2']);
