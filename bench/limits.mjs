// What limits cost: spawnSync('/bin/true') with limits (a cgroup made, limited, read and removed
// per run) against the same spawn without, as ratios from one run: with memory, pids and cpu
// limits, and with pids only. Needs cgroup v2 with its controllers (scripts/qemu-limits.sh runs
// it in a guest that has them). As root:
//   node bench/limits.mjs [rounds] [block]
// Each round times a block of spawns of every case in turn, starting with a different case each
// round, and each case's figure is the median of its rounds' per-spawn times: a burst of load on
// a shared machine falls on all cases alike and the median leaves it out, and the work the kernel
// defers after a cgroup's removal lands mostly within the block of the case that caused it.
import fs from 'node:fs'
import { spawnSync, probe } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 40)
const block = Number(process.argv[3] ?? 5)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
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
  // The kernel's part of limits { pids } with nothing of the package's: a cgroup made with
  // pids.max, the spawn started in it (CLONE_INTO_CGROUP), the cgroup removed; no usage read, no
  // stale-cgroup scan.
  'a bare cgroup (fs), pids.max': () => {
    const dir = `${support.parent}/bench-bare-${process.pid}`
    fs.mkdirSync(dir)
    fs.writeFileSync(`${dir}/pids.max`, '64')
    run({ cgroup: dir })()
    fs.rmdirSync(dir)
  },
}
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
// CPU time of this process (every thread of it, the package's cgroup thread included, which
// makes and removes the default parent's cgroups off the spawn's path): the work moved, not gone.
const cpu = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
for (const fn of Object.values(cases)) fn()
const order = Object.entries(cases)
for (let i = 0; i < rounds; i++) {
  const first = i % order.length
  for (const [k, fn] of [...order.slice(first), ...order.slice(0, first)]) {
    const start = process.hrtime.bigint()
    const used = process.cpuUsage()
    for (let j = 0; j < block; j++) fn()
    times[k].push(Number(process.hrtime.bigint() - start) / 1e6 / block)
    const { user, system } = process.cpuUsage(used)
    cpu[k].push((user + system) / 1e3 / block)
  }
}
const base = median(times['without limits'])
const cpuBase = median(cpu['without limits'])
console.log(`spawnSync('/bin/true') under ${support.parent}, median of ${rounds} rounds of ${block}:`)
console.log(`  ${''.padEnd(30)} ${'wall time'.padStart(15)}   ${'CPU time of the process'.padStart(24)}`)
for (const k of Object.keys(cases)) {
  const m = median(times[k])
  const c = median(cpu[k])
  console.log(`  ${k.padEnd(30)} ${m.toFixed(3).padStart(6)} ms  ${(m / base).toFixed(2)}x   ${c.toFixed(3).padStart(13)} ms  ${(c / cpuBase).toFixed(2)}x`)
}
