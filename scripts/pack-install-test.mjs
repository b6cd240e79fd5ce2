// Proves `npm install linux-clone` needs no compiler: packs the root package (with the
// optionalDependencies `napi pre-publish` writes at release) and the x64 glibc package, installs
// both from the tarballs with `npm install --offline` into an empty project, with cargo and rustc
// out of PATH, then loads the package with require() and import() and calls unshare(NEWUTS) in
// a child process. Needs all four binaries (npm run build:all) and root; x64 glibc hosts only.
//   node scripts/pack-install-test.mjs
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const platforms = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl']
let passed = 0
let failed = 0
const check = (name, fn) => {
  try {
    const detail = fn()
    passed++
    console.log(`ok - ${name}${detail ? `: ${detail}` : ''}`)
  } catch (e) {
    failed++
    console.log(`not ok - ${name}: ${e.stderr?.toString() || e.message}`)
  }
}
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: 'pipe', ...opts })

if (process.arch !== 'x64' || !process.report.getReport().header.glibcVersionRuntime) {
  console.log(`skipped: the install test needs an x64 glibc host, this is ${process.arch}`)
  process.exit(0)
}
const missing = platforms.filter((p) => !existsSync(join(root, `linux-clone.${p}.node`)))
if (missing.length) {
  console.error(`missing binaries for ${missing.join(', ')}: run npm run build:all first`)
  process.exit(1)
}

const work = mkdtempSync(join(tmpdir(), 'linux-clone-install-'))
try {
  // The release layout: the root package, and npm/<platform>/ with each binary in place.
  const stage = join(work, 'stage')
  for (const f of ['package.json', 'index.js', 'index.d.ts', 'README.md', 'dist']) cpSync(join(root, f), join(stage, f), { recursive: true })
  for (const p of platforms) {
    cpSync(join(root, 'npm', p), join(stage, 'npm', p), { recursive: true })
    cpSync(join(root, `linux-clone.${p}.node`), join(stage, 'npm', p, `linux-clone.${p}.node`))
  }

  check('napi pre-publish writes the platform packages as optionalDependencies at the root version', () => {
    // pre-publish reads the release commit through git: give the stage a repository of its own.
    run('git', ['init', '-q'], { cwd: stage })
    run('git', ['-c', 'user.name=release', '-c', 'user.email=release@localhost', 'commit', '-q', '--allow-empty', '-m', `v${pkg.version}`], { cwd: stage })
    run(join(root, 'node_modules', '.bin', 'napi'), ['pre-publish', '-t', 'npm', '--skip-optional-publish'], { cwd: stage })
    const written = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')).optionalDependencies ?? {}
    const expected = Object.fromEntries(platforms.map((p) => [`linux-clone-${p}`, pkg.version]))
    for (const [name, version] of Object.entries(expected)) {
      if (written[name] !== version) throw new Error(`${name}: ${written[name]} (expected ${version})`)
    }
    return JSON.stringify(written)
  })

  const tarballs = join(work, 'tarballs')
  const pack = (dir) => join(tarballs, run('npm', ['pack', '--silent', '--pack-destination', tarballs, dir]).trim().split('\n').pop())
  run('mkdir', ['-p', tarballs])
  const rootTgz = pack(stage)
  const x64Tgz = pack(join(stage, 'npm', 'linux-x64-gnu'))
  check('the root tarball carries no binary, the platform tarball exactly one', () => {
    const rootFiles = run('tar', ['-tzf', rootTgz])
    const x64Files = run('tar', ['-tzf', x64Tgz])
    if (/\.node$/m.test(rootFiles)) throw new Error(`root package holds a binary:\n${rootFiles}`)
    if (!x64Files.includes('package/linux-clone.linux-x64-gnu.node')) throw new Error(x64Files)
    return `${rootFiles.trim().split('\n').length} and ${x64Files.trim().split('\n').length} files`
  })

  // No compiler anywhere: PATH is one folder holding only what an install and the checks use.
  const bin = join(work, 'bin')
  run('mkdir', ['-p', bin])
  for (const tool of ['node', 'npm', 'sh', 'hostname']) {
    const at = run('sh', ['-c', `command -v ${tool}`]).trim()
    symlinkSync(realpathSync(at), join(bin, tool))
  }
  const env = { ...process.env, PATH: bin }
  const app = join(work, 'app')
  run('mkdir', ['-p', app])
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }))
  check('npm install --offline from the two tarballs, with no compiler on PATH', () => {
    for (const c of ['cargo', 'rustc', 'cc', 'gcc']) {
      if (run('sh', ['-c', `command -v ${c} || true`], { env }).trim()) throw new Error(`${c} is on PATH`)
    }
    const out = run('npm', ['install', '--offline', '--no-audit', '--no-fund', rootTgz, x64Tgz], { cwd: app, env })
    return out.trim().split('\n').pop()
  })
  check('the binary comes from the platform package, not a build', () => {
    const from = join(app, 'node_modules', 'linux-clone-linux-x64-gnu', 'linux-clone.linux-x64-gnu.node')
    if (!existsSync(from)) throw new Error(`${from} is missing`)
    if (existsSync(join(app, 'node_modules', 'linux-clone', 'linux-clone.linux-x64-gnu.node'))) throw new Error('a binary beside index.js')
  })
  check("require('linux-clone') works", () =>
    run(process.execPath, ['-e', "const lc = require('linux-clone'); if (lc.NEWNET !== 0x40000000) process.exit(1); console.log(typeof lc.unshare)"], { cwd: app, env }).trim(),
  )
  check("import('linux-clone') works", () =>
    run(process.execPath, ['--input-type=module', '-e', "import { unshare, NEWUTS } from 'linux-clone'; console.log(typeof unshare, NEWUTS)"], { cwd: app, env }).trim(),
  )
  check('unshare(NEWUTS) in a child process changes its hostname only', () => {
    const out = run(
      process.execPath,
      ['-e', "const { unshare, NEWUTS } = require('linux-clone'); const os = require('os'); unshare(NEWUTS); require('child_process').execSync('hostname lc-installed'); console.log(os.hostname())"],
      { cwd: app, env },
    ).trim()
    if (out !== 'lc-installed') throw new Error(`hostname ${out}`)
    return out
  })
} finally {
  rmSync(work, { recursive: true, force: true })
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
