// Builds the addon for this machine, and the TypeScript layer, when either is missing or older
// than its sources, so that `npm run demo` and `npm test` work straight after `npm install` in a clone.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch]
const libc = process.report?.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'
if (process.platform !== 'linux' || !arch) {
  console.error(`linux-clone builds on Linux x64 and arm64 only, not ${process.platform} ${process.arch}`)
  process.exit(1)
}
const binary = join(root, `linux-clone.linux-${arch}-${libc}.node`)

function newest(path) {
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))))
}

const fresh = (output, inputs) => {
  const present = inputs.map((p) => join(root, p)).filter(existsSync)
  return existsSync(output) && statSync(output).mtimeMs >= Math.max(...present.map(newest))
}
const run = (script) => {
  console.error(`building: npm run ${script}`)
  const result = spawnSync('npm', ['run', script], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

// The native build also builds the TypeScript layer.
if (!fresh(binary, ['src', 'build.rs', 'Cargo.toml', 'Cargo.lock'])) run('build')
else if (!fresh(join(root, 'dist', 'index.js'), ['lib', 'index.d.ts', 'tsconfig.build.json'])) run('build:ts')
