import { spawn } from 'node:child_process'
import { getSystemErrorName } from 'node:util'
import { accessSync, chmodSync, constants, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import type { MountEntry } from '../dist/index.js'

export const root = fileURLToPath(new URL('..', import.meta.url))
/** The package's entry as users load it: the TypeScript layer over the native binding. */
export const entry = `${root}dist/index.js`
export const isRoot = process.getuid?.() === 0

export interface Run {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** The last line of stdout, parsed as JSON: what the script reported. */
  result: unknown
}

/**
 * Runs an ES module in a node process of its own, so that namespace changes stay out of the
 * test process. `lc` is the package; `report(x)` prints x as the run's result; `attempt(f)` is
 * f's error, described, or 'no error'. `uid` runs it as
 * that user; `prefix` runs it under a command such as `unshare --user`.
 */
export async function runIsolated(
  body: string,
  options: { uid?: number; prefix?: string[]; timeout?: number; extraFd?: boolean; noUserns?: boolean } = {},
): Promise<Run> {
  const module = options.uid === undefined && !options.noUserns ? entry : worldReadableCopy()
  const source = `
    import * as lc from ${JSON.stringify(module)};
    import fs from 'node:fs';
    import os from 'node:os';
    import util from 'node:util';
    import { execSync, execFileSync } from 'node:child_process';
    const report = (x) => console.log(JSON.stringify(x));
    const ifaces = () => fs.readFileSync('/proc/thread-self/net/dev', 'utf8').split('\\n').slice(2)
      .filter(Boolean).map((l) => l.split(':')[0].trim()).sort();
    const nsOf = (type) => fs.readlinkSync(\`/proc/thread-self/ns/\${type}\`);
    const describe = (e) => ({ name: e.constructor.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message });
    const attempt = (f) => { try { f(); return 'no error' } catch (e) { return describe(e) } };
    ${body}
  `
  const argv = ['--input-type=module', '-e', source]
  const prefix = options.noUserns
    ? withoutUserns(options.uid ?? 4242)
    : options.uid === undefined
      ? (options.prefix ?? [])
      : asUser(options.uid)
  // extraFd: an fd 3 without close-on-exec, as child_process passes it.
  const run = await collect([...prefix, process.execPath, ...argv], {
    extraFd: options.extraFd,
    timeout: options.timeout,
    env: { ...process.env, LC_ENTRY: module },
  })
  const last = run.stdout.trim().split('\n').pop() ?? ''
  try {
    run.result = JSON.parse(last)
  } catch {
    run.result = undefined
  }
  return run
}

const asUser = (uid: number): string[] => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']

/**
 * Runs a command as `uid` under a container-style seccomp filter (Docker's default profile
 * refuses new namespaces the same way: EPERM for unshare and for clone with a CLONE_NEW* flag,
 * ENOSYS for clone3): a host where user namespaces are refused.
 */
const withoutUserns = (uid: number): string[] => [
  process.execPath,
  '--input-type=module',
  '-e',
  `import { spawnSync, seccompPresets } from ${JSON.stringify(worldReadableCopy())};
   const [file, ...args] = process.argv.slice(1);
   const r = spawnSync(file, args, { uid: ${uid}, gid: ${uid}, groups: [], seccomp: seccompPresets.noNamespaces, stdio: 'inherit' });
   if (r.error) { console.error(r.error.message); process.exit(126) }
   process.exit(r.status ?? 128 + 1);`,
  '--',
]

/** Runs a command to its end, collecting its output. */
async function collect(argv: string[], options: { extraFd?: boolean; timeout?: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<Run> {
  const [cmd, ...args] = argv
  const stdio = options.extraFd ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe']
  const child = spawn(cmd!, args, {
    stdio: stdio as ('ignore' | 'pipe')[],
    timeout: options.timeout ?? 30_000,
    env: options.env ?? process.env,
    cwd: options.cwd,
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject).on('close', (code, sig) => resolve([code, sig]))
  })
  return { status, signal, stdout, stderr, result: undefined }
}

/**
 * Runs `node examples/<name>` as a user would, from the package's directory (so that it imports
 * 'linux-clone' by name); as `uid`, from a copy that user can read.
 */
export async function runExample(name: string, options: { uid?: number; timeout?: number } = {}): Promise<Run> {
  let dir = root
  let prefix: string[] = []
  if (options.uid !== undefined) {
    dir = join(worldReadableCopy(), '..', '..')
    mkdirSync(join(dir, 'examples'), { recursive: true, mode: 0o755 })
    copyFileSync(join(root, 'examples', name), join(dir, 'examples', name))
    prefix = asUser(options.uid)
  }
  return collect([...prefix, process.execPath, join('examples', name)], { cwd: dir, timeout: options.timeout })
}

let copy: string | undefined

/**
 * The package copied where any user can read it: a run as another uid must be able to load it,
 * wherever the checkout lives.
 */
function worldReadableCopy(): string {
  if (copy) return copy
  const dir = mkdtempSync(join(tmpdir(), 'linux-clone-'))
  for (const name of readdirSync(root)) {
    if (name === 'index.js' || name === 'package.json' || name.endsWith('.node')) copyFileSync(join(root, name), join(dir, name))
  }
  mkdirSync(join(dir, 'dist'))
  for (const name of readdirSync(join(root, 'dist'))) copyFileSync(join(root, 'dist', name), join(dir, 'dist', name))
  chmodSync(dir, 0o755)
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  copy = join(dir, 'dist', 'index.js')
  return copy
}

/** Fails with the child's output when it did not exit cleanly. */
export function ok(t: ExecutionContext, run: Run): unknown {
  t.is(run.status, 0, `child failed:\n${run.stdout}\n${run.stderr}`)
  return run.result
}

export interface SystemErrorShape {
  name?: string
  code?: string
  errno?: number
  syscall?: string
  message: string
}

/** Errnos libuv does not name, with their numbers on Linux. */
const uvUnnamed: Record<string, number> = { ECHILD: 10, EUSERS: 87 }

/** Asserts the shape of a system error: code, negative errno that names code, syscall, cause. */
export function isSystemError(
  t: ExecutionContext,
  err: unknown,
  code: string,
  syscall: string,
  cause: RegExp,
): void {
  const e = err as SystemErrorShape
  t.is(e.code, code, e.message)
  t.is(e.syscall, syscall)
  t.is(typeof e.errno, 'number')
  t.true((e.errno ?? 0) < 0, `errno ${e.errno} should be negative`)
  // libuv names most errnos; for the few it does not, Node says 'Unknown system error -N'.
  if (code in uvUnnamed) t.is(e.errno, -uvUnnamed[code])
  else t.is(getSystemErrorName(e.errno ?? 0), code)
  t.true(e.message.startsWith(`${code}: ${syscall}(`), e.message)
  t.regex(e.message, cause)
}

/** `test` when running as root, else `test.skip` with the reason printed. */
export function asRoot(reason: string): typeof test {
  if (isRoot) return test
  console.log(`skipping a test that needs root (${reason}): running as uid ${process.getuid?.()}`)
  return test.skip as typeof test
}

/** Whether `tool` is a program on this PATH, as `command -v` finds it. */
export function has(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir || '.', tool), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Debian packages of the tools tests run, for the skip message. */
const packageOf: Record<string, string> = { bwrap: 'bubblewrap', ip: 'iproute2', python3: 'python3', gcc: 'gcc', newuidmap: 'uidmap', nsenter: 'util-linux', unshare: 'util-linux', setpriv: 'util-linux' }

/**
 * `base` (test, or asRoot's) when every tool is on the PATH, else `test.skip` with the missing
 * ones printed: a fresh machine runs `npm test` before .ci/run installed them.
 */
export function needs(tools: string | readonly string[], base: typeof test = test): typeof test {
  const missing = (typeof tools === 'string' ? [tools] : tools).filter((tool) => !has(tool))
  if (missing.length === 0) return base
  const what = missing.map((tool) => `${tool} (apt-get install ${packageOf[tool] ?? tool})`).join(', ')
  console.log(`skipping a test that runs ${what}: not installed; .ci/run installs it`)
  return test.skip as typeof test
}

/** `test` in Node, else `test.skip` with the reason printed: for what another runtime does its
 * own way (Bun's Worker termination, its child_process event order). */
export function inNode(reason: string, base: typeof test = test): typeof test {
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined') return base
  console.log(`skipping a test under Bun: ${reason}`)
  return test.skip as typeof test
}

/** The host's programs for an empty root: /usr read-only, and /bin, /lib... as this host has them
 * (links into /usr on a merged-/usr system, read-only binds of real directories elsewhere). */
export function system(): MountEntry[] {
  const entries: MountEntry[] = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
  for (const dir of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    const st = lstatSync(dir, { throwIfNoEntry: false })
    if (st?.isSymbolicLink()) entries.push({ type: 'symlink', target: dir, linkTo: readlinkSync(dir) })
    else if (st?.isDirectory()) entries.push({ type: 'bind', source: dir, target: dir, readonly: true })
  }
  return entries
}
