// The limit tests, where cgroup v2 has its controllers: run as root by scripts/qemu-limits.sh in
// a qemu-system guest whose init mounts cgroup2 and enables every controller. Prints one line
// per check and `N passed, N failed`; exits non-zero if a check fails.
//   node scripts/limits-guest.mjs
import { spawn as cpSpawn } from 'node:child_process'
import fs from 'node:fs'
import { spawn, spawnSync, probe } from 'linux-clone'

const MiB = 1024 * 1024
let passed = 0
let failed = 0
async function check(name, fn) {
  try {
    const detail = await fn()
    passed++
    console.log(`ok - ${name}${detail ? ` (${detail})` : ''}`)
  } catch (e) {
    failed++
    console.log(`not ok - ${name}: ${e?.message ?? e}${e?.code ? ` [${e.code}]` : ''}`)
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}
const support = probe().limits
const parent = support.parent
/** The run cgroups left under a parent (by the process `pid`, if given). */
const leftovers = (dir = parent, pid) => fs.readdirSync(dir).filter((n) => n.startsWith(pid ? `linux-clone-${pid}-` : 'linux-clone-'))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** What is left under the default parent once a run's cgroup has been removed (on the package's
 * cgroup thread, just after the run): nothing, or spares made for the next runs (one per set of
 * limits, at most 4), empty. */
async function cleared() {
  let left = leftovers()
  for (let i = 0; i < 300; i++) {
    const busy = left.filter((n) => {
      try {
        return fs.readFileSync(`${parent}/${n}/cgroup.procs`, 'utf8').trim() !== ''
      } catch {
        return false // removed meanwhile
      }
    })
    if (left.length <= 4 && busy.length === 0) return
    await sleep(10)
    left = leftovers()
  }
  throw new Error(`left: ${left}`)
}
const sh = (script, options = {}) => spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', ...options })
const nodeEval = (source) => [process.execPath, ['-e', source]]
/** Whether a process runs (a zombie waiting for the guest's init to reap it does not). */
const alive = (pid) => {
  try {
    return !/^\S+ \(.*\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
/** Whether a killed process is gone within 2 s: a cgroup is empty once its processes have left
 * it, a moment before they are zombies. */
const dies = (pid) => {
  for (let i = 0; i < 200 && alive(pid); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
  return !alive(pid)
}

console.log(`# node ${process.version}, kernel ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}, cpus ${fs.readFileSync('/proc/cpuinfo', 'utf8').split('\nprocessor').length}`)

await check('probe(): limits can work here, under the root cgroup', () => {
  assert(support.ok, support.cause)
  for (const c of ['memory', 'pids', 'cpu']) assert(support.controllers.includes(c), `no ${c} in ${support.controllers}`)
  return `${parent}: ${support.controllers.join(' ')}`
})

await check("the program runs in a cgroup of its own, with every limit written", async () => {
  const files = 'memory.max memory.high memory.swap.max memory.oom.group pids.max cpu.max cpu.weight io.weight'
  const r = sh(`cat /proc/self/cgroup; cd /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup) && for f in ${files}; do echo "$f=$(cat $f)"; done`, {
    limits: { memory: 96 * MiB, memoryHigh: 80 * MiB, memorySwap: 0, pids: 33, cpu: { quota: 0.25 }, cpuWeight: 50, ioWeight: 40 },
  })
  assert(r.status === 0, `status ${r.status} ${r.error?.message ?? ''} ${r.stderr}`)
  const lines = r.stdout.trim().split('\n')
  assert(/^0::\/linux-clone-\d+-\d+-\d+$/.test(lines[0]), lines[0])
  const want = `memory.max=${96 * MiB}|memory.high=${80 * MiB}|memory.swap.max=0|memory.oom.group=1|pids.max=33|cpu.max=25000 100000|cpu.weight=50|io.weight=default 40`
  assert(lines.slice(1).join('|') === want, lines.slice(1).join('|'))
  const q = sh('cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/cpu.max', { limits: { cpu: { quota: { max: 50000, period: 200000 } } } })
  assert(q.stdout === '50000 200000\n', q.stdout)
  await cleared()
  return `${lines[0]}; usage ${JSON.stringify(r.usage)}`
})

await check("allocating past memory: reason 'oom', memory.peak near the limit, nothing left", async () => {
  const limit = 128 * MiB
  const [node, args] = nodeEval('const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))')
  const p = spawn(node, args, { limits: { memory: limit, memorySwap: 0 }, stdio: 'ignore' })
  const r = await p.exited
  assert(r.reason === 'oom', `reason ${r.reason}, signal ${r.signal}, exit ${r.exitCode}`)
  assert(r.signal === 'SIGKILL', `signal ${r.signal}`)
  assert(r.usage.oomKills >= 1, `oomKills ${r.usage.oomKills}`)
  assert(r.usage.memoryPeak > 0.9 * limit && r.usage.memoryPeak <= limit, `memoryPeak ${r.usage.memoryPeak}`)
  await cleared()
  return `memoryPeak ${(r.usage.memoryPeak / MiB).toFixed(1)} MiB of ${limit / MiB}, oomKills ${r.usage.oomKills}`
})

await check("a fork bomb stops at pids: reason 'pids-limit', nothing left", async () => {
  const before = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length
  // ash gives up at the first fork that fails; its sleeps stay until the cgroup is killed.
  const r = sh('while :; do sleep 60 & done', { limits: { pids: 20 } })
  assert(r.reason === 'pids-limit', `reason ${r.reason}, status ${r.status}, signal ${r.signal}`)
  assert(r.usage.pidsPeak === undefined || r.usage.pidsPeak <= 20, `pidsPeak ${r.usage.pidsPeak}`)
  await cleared()
  // The killed sleeps were orphans: the guest's init reaps them, which may take it a moment.
  const count = () => fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length
  let after = count()
  for (let i = 0; i < 100 && after > before + 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    after = count()
  }
  assert(after <= before + 2, `${after - before} more processes after the run`)
  return `status ${r.status}, pidsPeak ${r.usage.pidsPeak}, stderr ${JSON.stringify(r.stderr.trim().split('\n').pop())}`
})

await check('a CPU-bound program under a 0.2-core quota takes > 3x its unlimited wall time, throttled', async () => {
  // Calibrated so that the unlimited run takes about half a second on this machine.
  const loop = (n) => `i=0; while [ $i -lt ${n} ]; do i=$((i+1)); done`
  let n = 20000
  let free = sh(loop(n))
  while (free.usage.wallTime < 0.4) {
    n = Math.ceil((n * 0.5) / Math.max(free.usage.wallTime, 0.01))
    free = sh(loop(n))
  }
  // The fastest of three, so that a moment of contention on the host does not inflate it.
  const free_ = Math.min(free.usage.wallTime, ...[0, 1].map(() => sh(loop(n)).usage.wallTime))
  const capped = sh(loop(n), { limits: { cpu: { quota: 0.2 } } })
  assert(capped.status === 0, `status ${capped.status}`)
  const ratio = capped.usage.wallTime / free_
  const cpu = capped.usage.userTime + capped.usage.systemTime
  assert(ratio > 3, `ratio ${ratio.toFixed(2)} (${free_.toFixed(2)} s free, ${capped.usage.wallTime.toFixed(2)} s capped)`)
  // The quota's own arithmetic: 0.2 s of CPU per second of wall time at most.
  assert(capped.usage.wallTime > 3 * cpu, `${capped.usage.wallTime.toFixed(2)} s wall for ${cpu.toFixed(2)} s of CPU`)
  assert(capped.usage.cpuThrottled > 0, `cpuThrottled ${capped.usage.cpuThrottled}`)
  assert(capped.reason === 'exit', capped.reason)
  await cleared()
  return `${free_.toFixed(2)} s free, ${capped.usage.wallTime.toFixed(2)} s capped: ${ratio.toFixed(1)}x, ${cpu.toFixed(2)} s of CPU, throttled ${capped.usage.cpuThrottled.toFixed(2)} s`
})

await check('cgroupParent: the run cgroup is made under it and removed; descendants are killed', () => {
  const dir = `${parent}/lc-parent`
  fs.mkdirSync(dir, { recursive: true })
  const r = sh('sleep 60 & echo $!; cat /proc/self/cgroup', { limits: { pids: 10, memory: 64 * MiB }, cgroupParent: dir })
  const [bg, cg] = r.stdout.trim().split('\n')
  assert(r.status === 0 && cg.startsWith('0::/lc-parent/linux-clone-'), `${r.status} ${r.stdout} ${r.error?.message ?? ''}`)
  assert(dies(bg), `sleep ${bg} still runs`)
  assert(leftovers(dir).length === 0, `left: ${leftovers(dir)}`)
  // The same parent as an open fd.
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)
  const viaFd = sh('cat /proc/self/cgroup', { limits: { pids: 10 }, cgroupParent: fd })
  fs.closeSync(fd)
  assert(viaFd.stdout.startsWith('0::/lc-parent/linux-clone-'), `${viaFd.stdout} ${viaFd.error?.message ?? ''}`)
  assert(leftovers(dir).length === 0, `left: ${leftovers(dir)}`)
  fs.rmdirSync(dir)
  return cg
})

await check('a parent SIGKILLed mid-run: the next run removes its cgroup and kills what was in it', async () => {
  const source = `import('linux-clone').then(({ spawn }) => { const p = spawn('sleep', ['60'], { limits: { pids: 5 }, stdio: 'ignore' }); p.on('spawn', () => console.log(p.pid)) })`
  const holder = cpSpawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] })
  const sleeper = await new Promise((resolve) => holder.stdout.once('data', (d) => resolve(Number(String(d).trim()))))
  const stale = leftovers(parent, holder.pid)
  assert(stale.length === 1, `cgroups: ${leftovers()}`)
  holder.kill('SIGKILL')
  await new Promise((r) => holder.once('exit', r))
  assert(alive(sleeper), 'the sleep died with its parent')
  const r = spawnSync('/bin/true', [], { limits: { pids: 5 } })
  assert(r.status === 0, `status ${r.status} ${r.error?.message ?? ''}`)
  assert(leftovers(parent, holder.pid).length === 0, `left: ${leftovers()}`)
  assert(dies(sleeper), `sleep ${sleeper} still runs`)
  return `removed ${stale[0]}`
})

await check("a series of runs: each run's cgroup removed just after it, one spare made ahead, nothing left at exit", async () => {
  // A process of its own, so that its exit is observed: five runs with the same limits, then
  // what is left a moment later; then what is left once it has exited.
  const source = `
    const fs = require('node:fs')
    const { spawnSync } = require('linux-clone')
    const parent = ${JSON.stringify(parent)}
    const mine = () => fs.readdirSync(parent).filter((n) => n.startsWith('linux-clone-' + process.pid + '-'))
    const runs = []
    for (let i = 0; i < 5; i++) {
      const r = spawnSync('/bin/sh', ['-c', 'sleep 30 & cut -d: -f3 /proc/self/cgroup'], { limits: { pids: 10 }, encoding: 'utf8' })
      runs.push(r.stdout.trim().split('/').pop())
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500)
    console.log(JSON.stringify({ runs, left: mine() }))`
  const r = spawnSync(process.execPath, ['-e', source], { encoding: 'utf8' })
  assert(r.status === 0, `status ${r.status} ${r.stderr}`)
  const { runs, left } = JSON.parse(r.stdout)
  assert(new Set(runs).size === 5, `runs: ${runs}`)
  assert(!left.some((n) => runs.includes(n)), `a run's cgroup is left: ${left} of ${runs}`)
  assert(left.length === 1, `spares: ${left}`)
  const after = leftovers(parent, r.pid)
  assert(after.length === 0, `left after exit: ${after}`)
  // The background sleeps went with their cgroups.
  const cmdline = (pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    } catch {
      return '' // gone meanwhile
    }
  }
  const sleeps = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n) && alive(n) && cmdline(n) === 'sleep\x0030\x00')
  assert(sleeps.length === 0, `sleeps left: ${sleeps}`)
  return `runs ${runs.join(' ')}; spare ${left[0]}`
})

await check('20 spawn() at once with the same limits: each in a cgroup of its own, each removed after it', async () => {
  const runs = Array.from({ length: 20 }, () => {
    const p = spawn('/bin/sh', ['-c', 'cut -d: -f3 /proc/self/cgroup; sleep 0.2'], { limits: { pids: 8, memory: 64 * MiB } })
    let out = ''
    p.stdout.setEncoding('utf8').on('data', (d) => (out += d))
    // 'close': the output is whole (exited resolves at the exit, maybe before the last read).
    return new Promise((resolve) => p.once('close', resolve)).then(() => p.exited).then((r) => ({ r, cgroup: out.trim().split('/').pop() }))
  })
  const done = await Promise.all(runs)
  for (const { r } of done) assert(r.exitCode === 0 && r.reason === 'exit', `${r.exitCode} ${r.reason}`)
  const names = done.map((d) => d.cgroup)
  assert(new Set(names).size === 20 && names.every((n) => n.startsWith('linux-clone-')), `cgroups: ${names}`)
  await cleared()
  assert(!leftovers().some((n) => names.includes(n)), `a run's cgroup is left: ${leftovers()}`)
  return `${names.length} cgroups`
})

await check('a controller disabled in the parent after a spare was made: the run fails as without a spare, never runs unlimited', async () => {
  const control = `${parent}/cgroup.subtree_control`
  const source = `
    const fs = require('node:fs')
    const { spawnSync } = require('linux-clone')
    const run = () => spawnSync('/bin/sh', ['-c', 'cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max'], { limits: { memory: 64 << 20 }, encoding: 'utf8' })
    run(); run() // the second asks for a spare
    const mine = () => fs.readdirSync(${JSON.stringify(parent)}).filter((n) => n.startsWith('linux-clone-' + process.pid + '-'))
    for (let i = 0; i < 200 && mine().length !== 1; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
    const spares = mine().length
    fs.writeFileSync(${JSON.stringify(control)}, '-memory')
    const r = run()
    fs.writeFileSync(${JSON.stringify(control)}, '+memory')
    const again = run()
    console.log(JSON.stringify({ spares, status: r.status, stdout: r.stdout, error: r.error && { code: r.error.code, step: r.error.step, message: r.error.message }, again: again.stdout }))`
  const r = spawnSync(process.execPath, ['-e', source], { encoding: 'utf8' })
  // Whatever happened in there, the guest's later checks need memory enabled.
  fs.writeFileSync(control, '+memory')
  assert(r.status === 0, `status ${r.status} ${r.stderr}`)
  const o = JSON.parse(r.stdout)
  assert(o.spares === 1, `spares ${o.spares}`)
  assert(o.error?.code === 'ENOENT' && o.error.step === 'limits', `ran: ${JSON.stringify(o)}`)
  assert(o.again === `${64 << 20}\n`, `then: ${JSON.stringify(o.again)}`)
  return o.error.message
})

console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed ? 1 : 0
