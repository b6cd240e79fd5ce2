// What spawn() costs against what Node users do today, as ratios from one run of one script:
// - spawnSync('/bin/true') against child_process.spawnSync('/bin/true');
// - with new user, mount, pid, net, uts and ipc namespaces and uidMap 'root', against
//   `bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true` and
//   `unshare -Urnpfiu --mount-proc true` (each started by child_process.spawnSync, as npm
//   sandboxes do);
// - the kernel's floor for both: the same spawns from C (bench/spawn-floor.c, compiled here);
// - the same namespaced spawn after the heap has grown to about 1 GB;
// - the reaper: threads used with 5,000 waitExit() and 5,000 spawn() children pending.
// Each figure is the median of trials taken in turn. Run as root:
//   node --expose-gc --max-old-space-size=3072 bench/spawn.mjs [rounds]
import { spawnSync as cpSpawnSync, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn, spawnSync, clone, execve, waitExit } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 200)
const trials = 5
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const time = (fn, n) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return Number(process.hrtime.bigint() - start) / 1e6 / n
}
const check = (r, what) => {
  if (r.status !== 0) throw new Error(`${what}: status ${r.status} ${r.error ?? ''} ${r.stderr ?? ''}`)
}
const has = (cmd) => cpSpawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

// The C floor, compiled once into a temporary directory.
let floor = null
const dir = mkdtempSync(join(tmpdir(), 'lc-bench-'))
try {
  const exe = join(dir, 'spawn-floor')
  execFileSync('cc', ['-O2', '-o', exe, fileURLToPath(new URL('spawn-floor.c', import.meta.url))])
  floor = (...args) => Number(execFileSync(exe, [String(rounds), ...args], { encoding: 'utf8' }))
} catch {
  console.log('(no C compiler: the kernel floor rows are left out)\n')
}

const sandbox = { namespaces: ['user', 'mnt', 'pid', 'net', 'uts', 'ipc'], uidMap: 'root', gidMap: 'root', stdio: 'ignore' }
const cases = [
  ["spawnSync('/bin/true')", () => check(spawnSync('/bin/true', [], { stdio: 'ignore' }), 'plain')],
  floor && ['the same from C: clone(VM) + execve + waitpid (kernel floor)', 'floor', () => floor('plain')],
  ["child_process.spawnSync('/bin/true')", () => check(cpSpawnSync('/bin/true', [], { stdio: 'ignore' }), 'child_process')],
  ['spawnSync /bin/true, user+mnt+pid+net+uts+ipc, uidMap root', () => check(spawnSync('/bin/true', [], sandbox), 'namespaces')],
  floor && ['the same from C, with the namespaces and maps (kernel floor)', 'floor', () => floor()],
  has('bwrap') && [
    'bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true',
    () => check(cpSpawnSync('bwrap', ['--unshare-all', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '/bin/true'], { stdio: 'ignore' }), 'bwrap'),
  ],
  ['unshare -Urnpfiu --mount-proc true', () => check(cpSpawnSync('unshare', ['-Urnpfiu', '--mount-proc', 'true'], { stdio: 'ignore' }), 'unshare')],
].filter(Boolean)

// A case is [label, fn] (timed here) or [label, 'floor', fn] (fn runs the C loop itself).
function measure(list) {
  const run = (c) => (c[1] === 'floor' ? c[2]() : time(c[1], rounds))
  for (const c of list) if (c[1] !== 'floor') time(c[1], 5)
  const runs = list.map(() => [])
  for (let t = 0; t < trials; t++) list.forEach((c, i) => runs[i].push(run(c)))
  return runs.map(median)
}

const ms = measure(cases)
const base = ms[0]
console.log(`spawn() against child_process, bwrap and unshare(1); ${trials} trials of ${rounds} rounds, medians\n`)
console.log('| operation | ms per spawn | vs spawnSync(/bin/true) |')
console.log('|---|---|---|')
cases.forEach(([label], i) => console.log(`| ${label} | ${ms[i].toFixed(3)} | ${(ms[i] / base).toFixed(2)}x |`))
const at = (prefix) => cases.findIndex(([l]) => l.startsWith(prefix))
const ns = ms[at('spawnSync /bin/true, user')]
const bwrap = at('bwrap')
console.log(`\nplain spawnSync vs child_process.spawnSync: ${(ms[at('child_process')] / ms[0]).toFixed(2)}x faster`)
if (bwrap >= 0) console.log(`namespaced spawnSync vs bwrap: ${(ms[bwrap] / ns).toFixed(2)}x faster`)
console.log(`namespaced spawnSync vs unshare(1): ${(ms[at('unshare')] / ns).toFixed(2)}x faster`)
rmSync(dir, { recursive: true, force: true })

// Where the namespaced time goes: the part the JS thread waits for (clone, namespaces, maps, up to
// execve) against the rest (the program, its exit and the namespaces' teardown, which the kernel
// does before the exit can be reaped), measured with spawn(), whose exits are awaited untimed.
const starts = []
for (let t = 0; t < trials; t++) {
  const kids = []
  starts.push(time(() => kids.push(spawn('/bin/true', [], sandbox)), rounds))
  await Promise.all(kids.map((k) => k.exited))
}
console.log(`namespaced spawn(): ${median(starts).toFixed(3)} ms on the JS thread, up to execve; the other ${(ns - median(starts)).toFixed(3)} ms of spawnSync are the program, its exit and the kernel's teardown of its namespaces`)

// The heap: a fork-style page-table copy would grow with it; CLONE_VM does not.
const nsCase = cases[at('spawnSync /bin/true, user')]
const small = measure([nsCase])[0]
globalThis.gc?.()
const heap = []
const target = 1024 * 1024 * 1024
let bytes = 0
while (bytes < target) {
  heap.push(new Float64Array(1024 * 128).fill(1))
  bytes += 1024 * 128 * 8
}
const rss = Math.round(Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096 / 1024 / 1024)
const big = measure([nsCase])[0]
console.log(`\nnamespaced spawnSync with a small heap: ${small.toFixed(3)} ms; with ${rss} MB resident: ${big.toFixed(3)} ms (${(big / small).toFixed(2)}x)`)
heap.length = 0
globalThis.gc?.()

// The reaper: every pending wait shares one thread.
const threads = () => Number(readFileSync('/proc/self/status', 'utf8').match(/Threads:\s+(\d+)/)[1])
const pending = 5000
const before = threads()
const waits = []
for (let i = 0; i < pending; i++) {
  const pid = clone(() => execve('/bin/sleep', ['sleep', '3']))
  waits.push(waitExit(pid))
}
const withWaits = threads()
await Promise.all(waits)
const kids = []
for (let i = 0; i < pending; i++) kids.push(spawn('/bin/sleep', ['3'], { stdio: 'ignore' }))
const withSpawns = threads()
await Promise.all(kids.map((k) => k.exited))
console.log(`\nthreads: ${before} before, ${withWaits} with ${pending} waitExit() pending (+${withWaits - before}), ${withSpawns} with ${pending} spawn() children running (+${withSpawns - before})`)
