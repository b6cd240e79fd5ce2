// What a run in a prepared sandbox costs, as ratios from one run of one script:
// - sandbox.spawnSync('/bin/true') in a sandbox (user, mnt, pid, net, uts, ipc namespaces, a
//   tmpfs root with the host's /usr read-only, /proc, /dev, /tmp), which joins its namespaces;
// - spawnSync() building the same sandbox afresh for each program;
// - bwrap building the same sandbox (started by child_process.spawnSync, as npm sandboxes do),
//   where bwrap is installed;
// - a plain spawnSync('/bin/true') and child_process.spawnSync('/bin/true').
// Targets: a sandbox run at least 5x faster than bwrap, at most 1.3x a plain spawnSync.
// Each figure is the median of trials taken in turn. Runs as any user where user namespaces
// are allowed:
//   node bench/session.mjs [rounds]
import { spawnSync as cpSpawnSync } from 'node:child_process'
import { lstatSync, readlinkSync } from 'node:fs'
import { createSandbox, probe, spawnSync } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 200)
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

const support = probe().userNamespaces
if (!support.ok) {
  console.log(`User namespaces are off here (${support.cause}): nothing to measure.`)
  process.exit(0)
}

// The host's /usr and the top-level links into it (or its real directories).
const mounts = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
const bwrapUsr = ['--ro-bind', '/usr', '/usr']
for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64']) {
  let st
  try {
    st = lstatSync(`/${name}`)
  } catch {
    continue
  }
  if (st.isSymbolicLink()) {
    mounts.push({ type: 'symlink', target: `/${name}`, linkTo: readlinkSync(`/${name}`) })
    bwrapUsr.push('--symlink', readlinkSync(`/${name}`), `/${name}`)
  } else if (st.isDirectory()) {
    mounts.push({ type: 'bind', source: `/${name}`, target: `/${name}`, readonly: true })
    bwrapUsr.push('--ro-bind', `/${name}`, `/${name}`)
  }
}
mounts.push({ type: 'proc' }, { type: 'dev' }, { type: 'tmpfs', target: '/tmp' })
const build = { namespaces: ['user', 'mnt', 'pid', 'net', 'uts', 'ipc'], uidMap: 'root', gidMap: 'root', rootfs: 'tmpfs', mounts }
const plain = { stdio: 'ignore' }

const sandbox = createSandbox(build)
const cases = [
  ['spawnSync /bin/true', () => check(spawnSync('/bin/true', plain), 'plain')],
  ['sandbox.spawnSync /bin/true', () => check(sandbox.spawnSync('/bin/true', plain), 'sandbox run')],
  ['spawnSync /bin/true, the sandbox built afresh', () => check(spawnSync('/bin/true', { ...build, ...plain }), 'fresh sandbox')],
  ['child_process.spawnSync /bin/true', () => check(cpSpawnSync('/bin/true', plain), 'child_process')],
]
const bwrap = cpSpawnSync('bwrap', ['--version']).status === 0
if (bwrap) {
  const argv = ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-ipc', '--uid', '0', '--gid', '0',
    '--die-with-parent', ...bwrapUsr, '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '/bin/true']
  cases.push(['bwrap, the same sandbox', () => check(cpSpawnSync('bwrap', argv, plain), 'bwrap')])
} else {
  console.log('bwrap is not installed: no bwrap figure')
}

for (const c of cases) time(c[1], 10)
const runs = cases.map(() => [])
for (let t = 0; t < trials; t++) cases.forEach((c, i) => runs[i].push(time(c[1], rounds)))
await sandbox.close()

const ms = runs.map(median)
const base = ms[0]
console.log(`${rounds} programs per trial, medians of ${trials} trials:\n`)
console.log('| run | ms | vs spawnSync /bin/true |')
console.log('| --- | --- | --- |')
cases.forEach(([label], i) => console.log(`| ${label} | ${ms[i].toFixed(3)} | ${(ms[i] / base).toFixed(2)}x |`))
console.log(`\na sandbox run: ${(ms[1] / base).toFixed(2)}x a plain spawnSync (target <= 1.3x), ${(ms[2] / ms[1]).toFixed(1)}x faster than building the sandbox afresh`)
if (bwrap) console.log(`a sandbox run is ${(ms[4] / ms[1]).toFixed(1)}x faster than bwrap building the same sandbox (target >= 5x)`)
