// The namespace toolkit against the tools people shell out to today: work inside a named network
// namespace with inNamespaces() against `ip netns exec NAME node ...` doing the same, and
// listNamespaces() against `lsns -J`. Each figure is the median of several trials taken in turn;
// ratios come from this one run. Run as root:
//   node bench/toolkit.mjs [rounds]
import { spawnSync } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import net from 'node:net'
import { setImmediate as tick } from 'node:timers/promises'
import { NEWNET, inNamespaces, listNamespaces, netns, setns } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 400)
const trials = 5
// Small ratios read better as fractions: 1/1400 rather than 0.001x.
const ratio = (r) => (r >= 0.1 ? `${r.toFixed(2)}x` : `1/${Math.round(1 / r)}`)
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function measure(fn, n) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / n
  await tick() // let closed servers release their fds
  return ms
}

const name = `lc-bench-${process.pid}`
netns.add(name)
const ns = netns.open(name)
const home = openSync('/proc/thread-self/ns/net', 'r')
const nodeDoingIt = (code) => {
  const r = spawnSync('ip', ['netns', 'exec', name, process.execPath, '-e', code])
  if (r.status !== 0) throw new Error(`ip netns exec failed: ${r.stderr}`)
}
// lsns now and then exits with 1 and prints nothing while other processes come and go; such a
// run is counted, its time kept (it did the same work), and reported.
let lsnsFailures = 0
const lsns = () => {
  const r = spawnSync('lsns', ['-J'], { encoding: 'utf8' })
  if (r.error) throw r.error
  if (r.status !== 0) return lsnsFailures++
  return JSON.parse(r.stdout)
}
const listening = () => net.createServer().listen(0).close()

const groups = [
  {
    title: 'work inside a named network namespace',
    base: 1,
    cases: [
      ['`inNamespaces({ net }, () => createServer())`', () => inNamespaces({ net: ns }, () => net.createServer()), rounds],
      ["`ip netns exec NAME node -e \"createServer()\"` (spawnSync)", () => nodeDoingIt("require('net').createServer()"), rounds / 20],
      ['`inNamespaces({ net }, () => createServer().listen(0))`, closed after', () => inNamespaces({ net: ns }, listening), rounds],
      ["`ip netns exec NAME node -e \"createServer().listen(0)\"` (spawnSync)", () => nodeDoingIt("require('net').createServer().listen(0).close()"), rounds / 20],
      ['`setns()` there, `createServer().listen(0)`, `setns()` back (moves the main thread)', () => {
        setns(ns, NEWNET)
        try {
          listening()
        } finally {
          setns(home, NEWNET)
        }
      }, rounds],
      ['`createServer().listen(0)` where the caller is (no namespace change)', listening, rounds],
    ],
  },
  {
    title: 'list the namespaces of every process',
    base: 1,
    cases: [
      ['`listNamespaces()`', () => listNamespaces(), rounds / 20],
      ["`JSON.parse(spawnSync('lsns', ['-J']).stdout)`", lsns, rounds / 20],
    ],
  },
]

try {
  console.log(`node ${process.version}, medians of ${trials} trials; ${listNamespaces().length} namespaces, ${listNamespaces({ type: 'pid' })[0].nprocs} processes in the first pid namespace\n`)
  for (const group of groups) {
    for (const [, fn, n] of group.cases) await measure(fn, Math.max(1, Math.floor(n / 10))) // warm up
    const times = group.cases.map(() => [])
    for (let t = 0; t < trials; t++) {
      for (const [i, [, fn, n]] of group.cases.entries()) times[i].push(await measure(fn, Math.max(1, Math.floor(n))))
    }
    const ms = times.map(median)
    const base = ms[group.base]
    console.log(`${group.title}:\n`)
    console.log(`| operation | ms per call | relative to \`${group.cases[group.base][0].replace(/`/g, '')}\` |`)
    console.log('|---|---|---|')
    group.cases.forEach(([label], i) => console.log(`| ${label} | ${ms[i].toFixed(3)} | ${ratio(ms[i] / base)} |`))
    console.log()
  }
  if (lsnsFailures) console.log(`(lsns exited with an error in ${lsnsFailures} of its runs)`)
} finally {
  ns.close()
  closeSync(home)
  netns.delete(name)
}
