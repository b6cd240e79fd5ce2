// What a clone() round trip costs: clone(() => 0) + waitpid(), with and without a new network
// namespace, against the kernel's own floor (the same clone and wait from C, bench/clone-floor.c,
// when a C compiler is there), what Node users do today (spawnSync('unshare', ['--net', 'true']))
// and the cost of spawning at all (spawnSync('true')); then the same round trip as the heap grows
// to about 100 MB and 1 GB. Each figure is the median of several trials taken in turn, and the
// ratios come from this one run. Run as root:
//   node --expose-gc --max-old-space-size=3072 bench/clone.mjs [rounds]
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NEWNET, SIGCHLD, clone, waitpid } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 2000)
const trials = 5

function once(fn, n) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return Number(process.hrtime.bigint() - start) / 1e6 / n
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const roundTrip = () => {
  const r = waitpid(clone(() => 0, 0, SIGCHLD))
  if (r?.exitCode !== 0) throw new Error(`unexpected wait result ${JSON.stringify(r)}`)
}

// The C floor, compiled once into a temporary directory.
let floor = null
const dir = mkdtempSync(join(tmpdir(), 'lc-bench-'))
try {
  const exe = join(dir, 'clone-floor')
  execFileSync('cc', ['-O2', '-pthread', '-o', exe, fileURLToPath(new URL('clone-floor.c', import.meta.url))])
  floor = (mappings = 0) => Number(execFileSync(exe, [String(rounds), String(mappings)], { encoding: 'utf8' }))
} catch {
  console.log('(no C compiler: the kernel floor row is left out)\n')
}

// The kernel walks every memory mapping of a process when a child of it exits: the C floor is
// also run with as many mappings as this process has, the floor for Node's address space.
const mappings = () => readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1
const cases = [
  ['clone(() => 0) + waitpid', (n) => once(roundTrip, n), rounds],
  ['the same from C: clone(VM|VFORK|FILES) + waitpid (kernel floor)', floor && (() => floor()), rounds],
  [
    `the same from C with as many memory mappings as this process (${mappings()})`,
    floor && (() => floor(mappings())),
    rounds,
  ],
  ['clone(() => 0, 0, NEWNET | SIGCHLD) + waitpid', (n) => once(() => waitpid(clone(() => 0, 0, NEWNET | SIGCHLD)), n), rounds / 10],
  ["spawnSync('unshare', ['--net', 'true'])", (n) => once(() => spawnSync('unshare', ['--net', 'true']), n), rounds / 20],
  ["spawnSync('true')", (n) => once(() => spawnSync('true'), n), rounds / 20],
].filter(([, fn]) => fn)

for (const [, fn, n] of cases) fn(Math.max(1, Math.floor(n / 10))) // warm up
const times = cases.map(() => [])
for (let t = 0; t < trials; t++) cases.forEach(([, fn, n], i) => times[i].push(fn(Math.max(1, Math.floor(n)))))
const results = cases.map(([label], i) => ({ label, ms: median(times[i]) }))

const heapMB = () => Math.round(process.memoryUsage().heapUsed / 2 ** 20)
const settle = () => {
  globalThis.gc?.()
  globalThis.gc?.()
}
// Grows the heap with many small arrays (what a real program's heap holds), kept reachable.
const kept = []
function growHeapTo(mb) {
  while (heapMB() < mb) {
    const chunk = []
    for (let i = 0; i < 10_000; i++) chunk.push([i, i + 0.5, `s${i}`])
    kept.push(chunk)
  }
  settle()
}
const heap = []
for (const target of [0, 100, 1000]) {
  growHeapTo(target)
  const ms = []
  const c = []
  for (let t = 0; t < trials; t++) {
    ms.push(once(roundTrip, rounds))
    if (floor) c.push(floor(mappings()))
  }
  heap.push({ heap: heapMB(), maps: mappings(), ms: median(ms), floor: floor ? median(c) : NaN })
}
rmSync(dir, { recursive: true, force: true })

const base = results[0].ms
console.log(`${rounds} clone rounds per trial, median of ${trials} trials; node ${process.version}`)
if (!globalThis.gc) console.log('(run with --expose-gc so that the heap rows start from a settled heap)')
console.log('\n| operation | ms per round | relative to clone + waitpid |')
console.log('|---|---|---|')
for (const r of results) console.log(`| ${r.label} | ${r.ms.toFixed(3)} | ${(r.ms / base).toFixed(2)}x |`)
if (floor) {
  const [, bare, matched] = results
  console.log(
    `\nclone() + waitpid: ${(base / bare.ms).toFixed(2)}x the C floor, ` +
      `${(base / matched.ms).toFixed(2)}x the C floor with as many memory mappings`,
  )
}
console.log('\n| heap used | memory mappings | clone + waitpid, ms | relative to the smallest heap | C floor with as many mappings, ms |')
console.log('|---|---|---|---|---|')
for (const r of heap) {
  console.log(`| ${r.heap} MB | ${r.maps} | ${r.ms.toFixed(3)} | ${(r.ms / heap[0].ms).toFixed(2)}x | ${Number.isNaN(r.floor) ? 'n/a' : r.floor.toFixed(3)} |`)
}
