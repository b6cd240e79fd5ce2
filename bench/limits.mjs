// What limits cost: spawnSync('/bin/true') with limits (a cgroup made, limited, read and removed
// per run) against the same spawn without, as one ratio from one run. Needs cgroup v2 with its
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
const limits = { memory: 256 * 1024 * 1024, pids: 64, cpu: { quota: 0.5 } }
const plain = () => {
  const r = spawnSync('/bin/true')
  if (r.status !== 0) throw new Error(`status ${r.status} ${r.error ?? ''}`)
}
const limited = () => {
  const r = spawnSync('/bin/true', [], { limits })
  if (r.status !== 0) throw new Error(`status ${r.status} ${r.error ?? ''}`)
}
plain()
limited()
const a = []
const b = []
// Taken in turn, so that both see the same machine.
for (let i = 0; i < trials; i++) {
  a.push(time(plain, rounds))
  b.push(time(limited, rounds))
}
const ms = (x) => x.toFixed(3)
console.log(`spawnSync('/bin/true'): ${ms(median(a))} ms; with limits (memory, pids, cpu) under ${support.parent}: ${ms(median(b))} ms; ratio ${(median(b) / median(a)).toFixed(2)}x (median of ${trials} x ${rounds})`)
