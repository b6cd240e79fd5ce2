// What confinement without namespaces costs, as ratios from one run of one script:
// - spawnSync('/bin/true') with Landlock rules (files, a TCP port, scopes) and a seccomp policy by
//   name (no unix sockets, no ptrace), against the same spawnSync without them (the target is
//   at most 1.2x) and against child_process.spawnSync('/bin/true');
// - against bwrap building examples/sandbox.mjs's kind of sandbox (started by
//   child_process.spawnSync, as npm sandboxes do), where bwrap is installed;
// - compileSeccomp() alone, and the policy given as bytes compiled once (what a caller that
//   caches the filter saves);
// - the kernel's floor: the same confinement set in a vforked child from C
//   (bench/landlock-floor.c, compiled here), plain and confined.
// Each figure is the median of trials taken in turn. Runs as any user:
//   node bench/landlock.mjs [rounds]
import { execFileSync, spawnSync as cpSpawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compileSeccomp, probe, seccompPresets, spawnSync } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 300)
const trials = 7
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const time = (fn, n) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return Number(process.hrtime.bigint() - start) / 1e6 / n
}
const check = (r, what) => {
  if (r.status !== 0) throw new Error(`${what}: status ${r.status} ${r.error?.message ?? ''} ${r.stderr ?? ''}`)
  return r
}

const support = probe()
if (support.landlock.abi === 0) {
  console.log(`This kernel has no Landlock (${support.landlock.cause}): nothing to measure.`)
  process.exit(0)
}
const workspace = mkdtempSync(join(tmpdir(), 'lc-bench-landlock-'))
process.on('exit', () => rmSync(workspace, { recursive: true, force: true }))

const policy = { defaultAction: 'allow', rules: [...seccompPresets.noUnixSockets.rules, ...seccompPresets.noPtrace.rules] }
const compiled = compileSeccomp(policy)
const landlock = {
  fs: { execute: ['/usr'], write: [workspace, '/dev/null'] },
  net: { connect: [3128] },
  scope: ['abstract-unix-socket', 'signal'],
}
const plain = { stdio: 'ignore' }
const confined = { stdio: 'ignore', landlock, seccomp: policy }
const confinedBytes = { stdio: 'ignore', landlock, seccomp: compiled }
check(spawnSync('/bin/true', confined), 'confined spawn')

const cases = [
  ['spawnSync /bin/true', () => check(spawnSync('/bin/true', plain), 'plain')],
  ['  + Landlock + seccomp policy', () => check(spawnSync('/bin/true', confined), 'confined')],
  ['  + Landlock + seccomp bytes', () => check(spawnSync('/bin/true', confinedBytes), 'bytes')],
  ['child_process.spawnSync /bin/true', () => check(cpSpawnSync('/bin/true', plain), 'child_process')],
]
const bwrap = cpSpawnSync('bwrap', ['--version']).status === 0
if (bwrap) {
  // examples/sandbox.mjs's sandbox as bwrap builds it (what the npm sandboxes do today).
  const argv = ['--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--bind', workspace, '/workspace', '--proc', '/proc',
    '--dev', '/dev', '--tmpfs', '/tmp', '--remount-ro', '/', '--cap-drop', 'ALL', '/bin/true']
  cases.push(['bwrap sandbox /bin/true', () => check(cpSpawnSync('bwrap', argv, plain), 'bwrap')])
}
const compileRounds = rounds * 10

for (const c of cases) time(c[1], 10)
const runs = cases.map(() => [])
const compiles = []
for (let t = 0; t < trials; t++) {
  cases.forEach((c, i) => runs[i].push(time(c[1], rounds)))
  compiles.push(time(() => compileSeccomp(policy), compileRounds))
}
const ms = runs.map(median)
const base = ms[0]
console.log(`Landlock ABI ${support.landlock.abi}, ${rounds} spawns per trial, medians of ${trials} trials:\n`)
console.log('| spawn | ms | vs spawnSync /bin/true |')
console.log('| --- | --- | --- |')
cases.forEach(([label], i) => console.log(`| ${label} | ${ms[i].toFixed(3)} | ${(ms[i] / base).toFixed(2)}x |`))
console.log(`\ncompileSeccomp(${compiled.length / 8} instructions): ${(median(compiles) * 1000).toFixed(1)} µs`)
if (bwrap) console.log(`the confined spawn is ${(ms[cases.length - 1] / ms[1]).toFixed(1)}x faster than bwrap's sandbox`)
try {
  const exe = join(workspace, 'landlock-floor')
  execFileSync('cc', ['-O2', '-o', exe, fileURLToPath(new URL('landlock-floor.c', import.meta.url))])
  const [plainC, confinedC] = execFileSync(exe, [String(rounds)], { encoding: 'utf8' }).trim().split(' ').map(Number)
  console.log(`the kernel's floor (C, vfork + execve): ${plainC.toFixed(3)} ms plain, ${confinedC.toFixed(3)} ms confined: ${(confinedC / plainC).toFixed(2)}x`)
} catch {
  console.log('(no C compiler: the floor is left out)')
}
