import test from 'ava'
import { readFileSync } from 'node:fs'
import { root } from './_helpers.js'

// The loader (index.js) runs here with a stand-in `process` and `require`, so that its choice of
// binary can be checked for platforms this machine is not. The loader is the generated index.js,
// not the package entry (dist/index.js) that wraps it.
const loader = `${root}index.js`
const source = readFileSync(loader, 'utf8')
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }

interface Machine {
  platform?: string
  arch?: string
  /** What /usr/bin/ldd says: the loader's first musl check. */
  ldd?: string
  /** Files that exist beside index.js (as a local build leaves them). */
  local?: string[]
  /** Packages that are installed. */
  packages?: string[]
  env?: Record<string, string>
}

function load(m: Machine): { loaded: string; required: string[] } {
  const required: string[] = []
  const fakeRequire = (id: string): unknown => {
    required.push(id)
    if (id === 'fs') return { readFileSync: (p: string) => (p === '/usr/bin/ldd' && m.ldd !== undefined ? m.ldd : missing(p)) }
    if (id === 'child_process') return { execSync: () => m.ldd ?? '' }
    if (id.endsWith('/package.json')) return { version }
    const name = id.replace(/^\.\//, '')
    if ((m.local ?? []).includes(name) || (m.packages ?? []).includes(name) || id === m.env?.NAPI_RS_NATIVE_LIBRARY_PATH) {
      return { loadedFrom: id }
    }
    return missing(id)
  }
  const fakeProcess = {
    platform: m.platform ?? 'linux',
    arch: m.arch ?? 'x64',
    env: m.env ?? {},
    versions: process.versions,
    report: { getReport: () => ({ header: {}, sharedObjects: [] }) },
    emitWarning: () => {},
  }
  const module = { exports: {} as Record<string, unknown> }
  const run = new Function('module', 'exports', 'require', '__filename', '__dirname', 'process', source)
  run(module, module.exports, fakeRequire, loader, root, fakeProcess)
  return { loaded: module.exports.loadedFrom as string, required }
}

function missing(id: string): never {
  throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })
}

const cases: Array<[string, Machine, string]> = [
  ['x64 glibc: the x64 gnu package', { ldd: 'GNU C Library', packages: ['linux-clone-linux-x64-gnu'] }, 'linux-clone-linux-x64-gnu'],
  ['x64 musl (Alpine): the x64 musl package', { ldd: 'musl libc (x86_64)', packages: ['linux-clone-linux-x64-musl'] }, 'linux-clone-linux-x64-musl'],
  ['arm64 glibc: the arm64 gnu package', { arch: 'arm64', ldd: 'GNU C Library', packages: ['linux-clone-linux-arm64-gnu'] }, 'linux-clone-linux-arm64-gnu'],
  ['arm64 musl: the arm64 musl package', { arch: 'arm64', ldd: 'musl libc (aarch64)', packages: ['linux-clone-linux-arm64-musl'] }, 'linux-clone-linux-arm64-musl'],
  [
    'a local build beside index.js comes before the package',
    { ldd: 'GNU C Library', local: ['linux-clone.linux-x64-gnu.node'], packages: ['linux-clone-linux-x64-gnu'] },
    './linux-clone.linux-x64-gnu.node',
  ],
  [
    'NAPI_RS_NATIVE_LIBRARY_PATH points at a binary of ones own',
    { ldd: 'GNU C Library', env: { NAPI_RS_NATIVE_LIBRARY_PATH: '/opt/mine/linux-clone.node' }, packages: ['linux-clone-linux-x64-gnu'] },
    '/opt/mine/linux-clone.node',
  ],
]

for (const [name, machine, expected] of cases) {
  test(`loader: ${name}`, (t) => {
    t.is(load(machine).loaded, expected)
  })
}

test('loader: glibc is not mistaken for musl, nor musl for glibc', (t) => {
  const both = ['linux-clone-linux-x64-gnu', 'linux-clone-linux-x64-musl']
  t.is(load({ ldd: 'ldd (Debian GLIBC 2.36-9) 2.36', packages: both }).loaded, 'linux-clone-linux-x64-gnu')
  t.is(load({ ldd: 'musl libc (x86_64)\nVersion 1.2.4', packages: both }).loaded, 'linux-clone-linux-x64-musl')
})

for (const platform of ['darwin', 'win32', 'freebsd']) {
  test(`loader: on ${platform} it throws that linux-clone supports Linux only, naming the platform`, (t) => {
    const err = t.throws(() => load({ platform, packages: ['linux-clone-linux-x64-gnu'] }))
    t.regex(err!.message, /linux-clone supports Linux only/)
    t.regex(err!.message, new RegExp(`this is ${platform}`))
  })
}

test('loader: with no binary for the machine, the error says what was tried', (t) => {
  const err = t.throws(() => load({ arch: 'riscv64', ldd: 'GNU C Library' }))
  t.regex(err!.message, /native binding/i)
})
