// Builds the addon for this machine when its binary is missing or older than the sources, so
// that `npm run demo` and `npm test` work straight after `npm install` in a clone.
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

const sources = ['src', 'build.rs', 'Cargo.toml', 'Cargo.lock'].map((p) => join(root, p)).filter(existsSync)
if (existsSync(binary) && statSync(binary).mtimeMs >= Math.max(...sources.map(newest))) process.exit(0)

console.error(`building ${binary}: npm run build`)
const result = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
process.exit(result.status ?? 1)
