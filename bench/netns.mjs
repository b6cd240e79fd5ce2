// How much a network namespace costs from Node: unshare(NEWNET) and back with setns(), against
// what Node users do without this package (spawnSync('unshare', ['--net', 'true'])) and the cost
// of spawning at all (spawnSync('true')). Ratios from one run of one script. Run as root:
//   node bench/netns.mjs [rounds]
import { closeSync, openSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { NEWNET, NEWUTS, setns, unshare } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 200)

function time(label, fn) {
  fn() // warm up
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) fn()
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / rounds
  return { label, ms }
}

const home = { net: openSync('/proc/thread-self/ns/net', 'r'), uts: openSync('/proc/thread-self/ns/uts', 'r') }
const results = [
  time('unshare(NEWUTS) + setns back', () => {
    unshare(NEWUTS)
    setns(home.uts, NEWUTS)
  }),
  time('unshare(NEWNET) + setns back', () => {
    unshare(NEWNET)
    setns(home.net, NEWNET)
  }),
  time("spawnSync('unshare', ['--net', 'true'])", () => spawnSync('unshare', ['--net', 'true'])),
  time("spawnSync('true')", () => spawnSync('true')),
]
closeSync(home.net)
closeSync(home.uts)

const base = results[2].ms
console.log(`${rounds} rounds each, node ${process.version}\n`)
console.log('| operation | ms per round | vs spawnSync unshare --net |')
console.log('|---|---|---|')
for (const r of results) console.log(`| ${r.label} | ${r.ms.toFixed(3)} | ${(r.ms / base).toFixed(3)}x |`)
