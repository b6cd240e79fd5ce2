// What limits cost: spawnSync('/bin/true') with limits (a cgroup made, limited, read and removed
// per run) against the same spawn without, as ratios from one run: with memory, pids and cpu
// limits, and with pids only (no memory cgroup to make and tear down). Needs cgroup v2 with its
// controllers (scripts/qemu-limits.sh runs it in a guest that has them). As root:
//   node bench/limits.mjs [rounds]
import { spawnSync, probe } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 200)
const trials = 5
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const time = (fn, n) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return Number(process.hrtime.bigint() - start) / 1e6 / n
}
const support = probe().limits
if (!support.ok) {
  console.log(`limits bench skipped: ${support.cause}`)
  process.exit(0)
}
const run = (options) => () => {
  const r = spawnSync('/bin/true', [], options)
  if (r.status !== 0) throw new Error(`status ${r.status} ${r.error ?? ''}`)
}
const cases = {
  'without limits': run({}),
  // A quota of two CPUs: cpu.max is written, but /bin/true is never held back by it (a smaller
  // quota would measure throttling, not the cost of the cgroup).
  'limits { memory, pids, cpu }': run({ limits: { memory: 256 * 1024 * 1024, pids: 64, cpu: { quota: 2 } } }),
  'limits { pids }': run({ limits: { pids: 64 } }),
}
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
for (const fn of Object.values(cases)) fn()
// Taken in turn, so that every case sees the same machine.
for (let i = 0; i < trials; i++) for (const [k, fn] of Object.entries(cases)) times[k].push(time(fn, rounds))
const base = median(times['without limits'])
console.log(`spawnSync('/bin/true') under ${support.parent}, median of ${trials} x ${rounds}:`)
for (const k of Object.keys(cases)) {
  const m = median(times[k])
  console.log(`  ${k.padEnd(30)} ${m.toFixed(3)} ms  ${(m / base).toFixed(2)}x`)
}
