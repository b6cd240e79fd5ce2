// The long stress run: N clone() callbacks in a row (default 10,000) while libuv's threadpool is
// kept busy with async fs and crypto and every callback allocates enough to trigger GC. Each
// child must exit with its own status; a hang shows as the watchdog ending the run.
//   node bench/clone-stress.mjs [count]
import fs from 'node:fs'
import crypto from 'node:crypto'
import { PerformanceObserver } from 'node:perf_hooks'
import { SIGCHLD, clone, waitpid } from 'linux-clone'

const count = Number(process.argv[2] ?? 10_000)
const watchdog = setTimeout(() => {
  console.error(`stress: no progress for 60 s: hung after ${done} of ${count} clones`)
  process.exit(2)
}, 60_000)

let gcs = 0
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] })
let busy = true
let asyncDone = 0
const keepBusy = () => {
  if (!busy) return
  let left = 2
  const next = () => {
    asyncDone++
    if (--left === 0) keepBusy()
  }
  fs.promises.readFile('/proc/self/stat').then(next)
  crypto.pbkdf2('pw', 'salt', 2000, 32, 'sha256', next)
}
for (let i = 0; i < 4; i++) keepBusy()

let done = 0
let wrong = 0
let hold
const start = process.hrtime.bigint()
for (let i = 0; i < count; i++) {
  const pid = clone(() => {
    const junk = []
    for (let j = 0; j < 5000; j++) junk.push({ j, s: 'x'.repeat(j % 50) })
    hold = junk
    return i % 256
  }, 0, SIGCHLD)
  const r = waitpid(pid)
  if (r?.exitCode !== i % 256) {
    wrong++
    console.error(`stress: clone ${i}: expected exit ${i % 256}, got ${JSON.stringify(r)}`)
  }
  done++
  if (i % 10 === 0) {
    watchdog.refresh()
    await new Promise((r) => setImmediate(r))
  }
}
busy = false
clearTimeout(watchdog)
const ms = Number(process.hrtime.bigint() - start) / 1e6
console.log(
  `stress: ${done} clones, ${wrong} wrong statuses, 0 hangs, ${(ms / 1000).toFixed(1)} s ` +
    `(${(ms / done).toFixed(3)} ms each, allocation included); ${gcs} GCs and ${asyncDone} threadpool jobs meanwhile`,
)
void hold
process.exitCode = wrong ? 1 : 0
