// What spawn() costs against what Node users do today, as ratios from one run of one script:
// - spawnSync('/bin/true') against child_process.spawnSync('/bin/true');
// - with new user, mount, pid, net, uts and ipc namespaces and uidMap 'root', against
//   `bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true` and
//   `unshare -Urnpfiu --mount-proc true` (each started by child_process.spawnSync, as npm
//   sandboxes do);
// - the kernel's floor for both: the same spawns from C (bench/spawn-floor.c, compiled here);
// - the same namespaced spawn after the heap has grown to about 1 GB;
// - the reaper: threads used with 5,000 waitExit() and 5,000 spawn() children pending;
// - the sandbox of examples/sandbox.mjs (seccomp included) against bwrap with the same options,
//   and where its time goes (the same spawn without each part, and the C floor);
// - 5,000 bind mounts in one spawn, against bwrap with as many as it takes.
// Each figure is the median of trials taken in turn. Run as root, all sections or those named
// (basic, heap, reaper, sandbox, breakdown, mounts):
//   node --expose-gc --max-old-space-size=3072 bench/spawn.mjs [rounds] [section...]
import { spawnSync as cpSpawnSync, execFileSync } from 'node:child_process'
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn, spawnSync, clone, execve, waitExit } from 'linux-clone'

const rounds = Number(process.argv[2] ?? 200)
const sections = new Set(process.argv.slice(3))
const want = (section) => sections.size === 0 || sections.has(section)
const trials = 5
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const time = (fn, n) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return Number(process.hrtime.bigint() - start) / 1e6 / n
}
const check = (r, what) => {
  if (r.status !== 0) throw new Error(`${what}: status ${r.status} ${r.error ?? ''} ${r.stderr ?? ''}`)
}
const has = (cmd) => cpSpawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

// The C floor, compiled once into a temporary directory.
let floor = null
const dir = mkdtempSync(join(tmpdir(), 'lc-bench-'))
try {
  const exe = join(dir, 'spawn-floor')
  execFileSync('cc', ['-O2', '-o', exe, fileURLToPath(new URL('spawn-floor.c', import.meta.url))])
  floor = (...args) => Number(execFileSync(exe, [String(rounds), ...args], { encoding: 'utf8' }))
} catch {
  console.log('(no C compiler: the kernel floor rows are left out)\n')
}
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

// A case is [label, fn] (timed here) or [label, 'floor', fn] (fn runs the C loop itself).
function measure(list) {
  const run = (c) => (c[1] === 'floor' ? c[2]() : time(c[1], rounds))
  for (const c of list) if (c[1] !== 'floor') time(c[1], 5)
  const runs = list.map(() => [])
  for (let t = 0; t < trials; t++) list.forEach((c, i) => runs[i].push(run(c)))
  return runs.map(median)
}

const sandbox = { namespaces: ['user', 'mnt', 'pid', 'net', 'uts', 'ipc'], uidMap: 'root', gidMap: 'root', stdio: 'ignore' }
if (want('basic')) {
  const cases = [
    ["spawnSync('/bin/true')", () => check(spawnSync('/bin/true', [], { stdio: 'ignore' }), 'plain')],
    floor && ['the same from C: clone(VM) + execve + waitpid (kernel floor)', 'floor', () => floor('plain')],
    ["child_process.spawnSync('/bin/true')", () => check(cpSpawnSync('/bin/true', [], { stdio: 'ignore' }), 'child_process')],
    ['spawnSync /bin/true, user+mnt+pid+net+uts+ipc, uidMap root', () => check(spawnSync('/bin/true', [], sandbox), 'namespaces')],
    floor && ['the same from C, with the namespaces and maps (kernel floor)', 'floor', () => floor()],
    has('bwrap') && [
      'bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true',
      () => check(cpSpawnSync('bwrap', ['--unshare-all', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '/bin/true'], { stdio: 'ignore' }), 'bwrap'),
    ],
    ['unshare -Urnpfiu --mount-proc true', () => check(cpSpawnSync('unshare', ['-Urnpfiu', '--mount-proc', 'true'], { stdio: 'ignore' }), 'unshare')],
  ].filter(Boolean)

  const ms = measure(cases)
  const base = ms[0]
  console.log(`spawn() against child_process, bwrap and unshare(1); ${trials} trials of ${rounds} rounds, medians\n`)
  console.log('| operation | ms per spawn | vs spawnSync(/bin/true) |')
  console.log('|---|---|---|')
  cases.forEach(([label], i) => console.log(`| ${label} | ${ms[i].toFixed(3)} | ${(ms[i] / base).toFixed(2)}x |`))
  const at = (prefix) => cases.findIndex(([l]) => l.startsWith(prefix))
  const ns = ms[at('spawnSync /bin/true, user')]
  const bwrap = at('bwrap')
  console.log(`\nplain spawnSync vs child_process.spawnSync: ${(ms[at('child_process')] / ms[0]).toFixed(2)}x faster`)
  if (bwrap >= 0) console.log(`namespaced spawnSync vs bwrap: ${(ms[bwrap] / ns).toFixed(2)}x faster`)
  console.log(`namespaced spawnSync vs unshare(1): ${(ms[at('unshare')] / ns).toFixed(2)}x faster`)

  // Where the namespaced time goes: the part the JS thread waits for (clone, namespaces, maps, up to
  // execve) against the rest (the program, its exit and the namespaces' teardown, which the kernel
  // does before the exit can be reaped), measured with spawn(), whose exits are awaited untimed.
  const starts = []
  for (let t = 0; t < trials; t++) {
    const kids = []
    starts.push(time(() => kids.push(spawn('/bin/true', [], sandbox)), rounds))
    await Promise.all(kids.map((k) => k.exited))
  }
  console.log(`namespaced spawn(): ${median(starts).toFixed(3)} ms on the JS thread, up to execve; the other ${(ns - median(starts)).toFixed(3)} ms of spawnSync are the program, its exit and the kernel's teardown of its namespaces`)
}

// ---- The sandbox of examples/sandbox.mjs, and bwrap given the same options ----

// The example's seccomp filter (socket() and socketpair() with AF_UNIX fail with EAFNOSUPPORT),
// assembled as there: [code, k, jt?, jf?] instructions and labels; jumps name labels.
function assemble(program) {
  const labels = new Map()
  const insns = []
  for (const item of program) {
    if (typeof item === 'string') labels.set(item, insns.length)
    else insns.push(item)
  }
  const out = Buffer.alloc(insns.length * 8)
  insns.forEach(([code, k, jt, jf], i) => {
    const offset = (label) => (label === undefined ? 0 : labels.get(label) - i - 1)
    out.writeUInt16LE(code, i * 8)
    out.writeUInt8(offset(jt), i * 8 + 2)
    out.writeUInt8(offset(jf), i * 8 + 3)
    out.writeUInt32LE(k >>> 0, i * 8 + 4)
  })
  return out
}
const [LD, JEQ, JGE, RET] = [0x20, 0x15, 0x35, 0x06]
const arch = { x64: { audit: 0xc000003e, socket: 41, socketpair: 53 }, arm64: { audit: 0xc00000b7, socket: 198, socketpair: 199 } }[process.arch]
const filter = arch && assemble([
  [LD, 4], [JEQ, arch.audit, undefined, 'kill'],
  [LD, 0], [JGE, 0x40000000, 'enosys'], [JEQ, arch.socket, 'domain'], [JEQ, arch.socketpair, 'domain', 'allow'],
  'domain', [LD, 16], [JEQ, 1, 'refuse', 'allow'],
  'allow', [RET, 0x7fff0000], 'refuse', [RET, 0x00050000 | 97], 'enosys', [RET, 0x00050000 | 38], 'kill', [RET, 0x80000000],
])

// The host's /usr with its top-level links (or directories), as mount entries and as bwrap's.
const usrMounts = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
const usrBwrap = ['--ro-bind', '/usr', '/usr']
for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
  const at = `/${name}`
  let st
  try {
    st = lstatSync(at)
  } catch {
    continue
  }
  if (st.isSymbolicLink()) {
    usrMounts.push({ type: 'symlink', target: at, linkTo: readlinkSync(at) })
    usrBwrap.push('--symlink', readlinkSync(at), at)
  } else if (st.isDirectory()) {
    usrMounts.push({ type: 'bind', source: at, target: at, readonly: true })
    usrBwrap.push('--ro-bind', at, at)
  }
}

const workspace = join(dir, 'workspace')
mkdirSync(workspace)
writeFileSync(join(workspace, 'secret.txt'), 'API_KEY=do-not-leak\n')
const emptyFile = join(dir, 'empty')
writeFileSync(emptyFile, '')
const filterFile = join(dir, 'seccomp')
if (filter) writeFileSync(filterFile, filter)
const env = { PATH: '/usr/bin:/bin', LANG: 'C' }

const full = {
  namespaces: ['user', 'pid', 'net', 'ipc', 'uts'],
  uidMap: 'root',
  gidMap: 'root',
  hostname: 'sandbox',
  rootfs: 'tmpfs',
  mounts: [
    ...usrMounts,
    { type: 'bind', source: workspace, target: '/workspace' },
    { type: 'file', target: '/workspace/secret.txt', data: '', readonly: true },
    { type: 'proc' },
    { type: 'dev' },
    { type: 'tmpfs', target: '/tmp' },
    { type: 'remount', target: '/', readonly: true },
  ],
  capabilities: {},
  noNewPrivs: true,
  seccomp: filter,
  cwd: '/workspace',
  env,
  stdio: 'ignore',
}
// The same for bwrap, which always sets no_new_privs; fd 3 holds the empty mask, fd 4 the filter.
const bwrapFull = [
  '--unshare-user', '--uid', '0', '--gid', '0',
  '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--hostname', 'sandbox',
  ...usrBwrap,
  '--bind', workspace, '/workspace',
  '--ro-bind-data', '3', '/workspace/secret.txt',
  '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
  '--remount-ro', '/',
  '--cap-drop', 'ALL',
  '--chdir', '/workspace',
  ...(filter ? ['--seccomp', '4'] : []),
]
/** bwrap with the sandbox's options; its fds 3 and 4 are opened for each run, since bwrap reads them to their end. */
function bwrapSandbox(program = ['/bin/true'], output = 'ignore') {
  const fds = [openSync(emptyFile, 'r'), openSync(filter ? filterFile : emptyFile, 'r')]
  try {
    return cpSpawnSync('bwrap', [...bwrapFull, ...program], { stdio: ['ignore', output, output, ...fds], encoding: 'utf8', env })
  } finally {
    fds.forEach(closeSync)
  }
}

/** Each case run once per round, the cases in turn, after `warm` runs each; the median ms of each. */
function interleaved(list, n, warm = 5) {
  for (const [, fn] of list) for (let i = 0; i < warm; i++) fn()
  const runs = list.map(() => [])
  for (let i = 0; i < n; i++) {
    list.forEach(([, fn], j) => {
      const start = process.hrtime.bigint()
      fn()
      runs[j].push(Number(process.hrtime.bigint() - start) / 1e6)
    })
  }
  return runs.map(median)
}

const bwrapThere = has('bwrap')
if (want('sandbox') && bwrapThere) {
  // Both must build the same thing: the same view from inside first.
  const look = ['/bin/sh', '-c', `id -u; hostname; ls /; wc -c < /workspace/secret.txt; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; ip -o link | cut -d: -f2
    python3 -c 'import socket; socket.socket(socket.AF_UNIX)' 2>&1 | tail -n 1`]
  const mine = spawnSync(look[0], look.slice(1), { ...full, stdio: 'pipe', encoding: 'utf8' })
  const theirs = bwrapSandbox(look, 'pipe')
  check(mine, 'the sandbox')
  check(theirs, 'bwrap sandbox')
  const same = mine.stdout === theirs.stdout
  const [ms, bw] = interleaved([
    ['spawn', () => check(spawnSync('/bin/true', [], full), 'the sandbox')],
    ['bwrap', () => check(bwrapSandbox(), 'bwrap sandbox')],
  ], rounds)
  console.log(`\nThe sandbox of examples/sandbox.mjs (user, pid, net, ipc, uts namespaces; a tmpfs root with /usr, a workspace, a masked file, /proc, /dev, /tmp, read-only /; no capabilities, no_new_privs, seccomp) running /bin/true, against bwrap with the same options; ${rounds} runs each, interleaved, medians\n`)
  console.log(`same view from inside: ${same ? 'yes' : `NO\n--- spawn():\n${mine.stdout}--- bwrap:\n${theirs.stdout}`}`)
  console.log('| operation | ms per spawn |')
  console.log('|---|---|')
  console.log(`| spawnSync('/bin/true', [], sandbox) | ${ms.toFixed(3)} |`)
  console.log(`| bwrap ${bwrapFull.length} arguments, seccomp by --seccomp FD | ${bw.toFixed(3)} |`)
  console.log(`\nthe sandbox: spawn() ${(bw / ms).toFixed(2)}x faster than bwrap`)
}

if (want('breakdown')) {
  // Where the sandbox's time goes: the same spawn without one part at a time.
  const less = (patch) => ({ ...full, ...patch })
  const mountsBut = (drop) => full.mounts.filter((m) => !drop.includes(m.type))
  const cases = [
    ['the whole sandbox', full],
    ['without the seccomp filter', less({ seccomp: undefined })],
    ['without capabilities: {} and noNewPrivs', less({ capabilities: undefined, noNewPrivs: undefined })],
    ['without the net namespace', less({ namespaces: ['user', 'pid', 'ipc', 'uts'] })],
    ['without the ipc and uts namespaces (and hostname)', less({ namespaces: ['user', 'pid', 'net'], hostname: undefined })],
    ['without the pid namespace (/proc bound, not mounted)', less({ namespaces: ['user', 'net', 'ipc', 'uts'] })],
    ['without the proc, dev and tmpfs entries', less({ mounts: mountsBut(['proc', 'dev', 'tmpfs']) })],
    ['without the file entry (the masked secret)', less({ mounts: mountsBut(['file']) })],
    ['without any mount (no rootfs, no mount namespace)', less({ rootfs: undefined, mounts: undefined, cwd: undefined })],
    ['a user namespace alone (uidMap root)', { namespaces: ['user'], uidMap: 'root', gidMap: 'root', stdio: 'ignore', env }],
    ["spawnSync('/bin/true')", { stdio: 'ignore', env }],
  ].map(([label, options]) => [label, () => check(spawnSync('/bin/true', [], options), label)])
  const ms = interleaved(cases, rounds)
  const floors = floor
    ? [
        ['C floor: clone + user, mnt, pid, net, uts, ipc + id maps + execve + waitpid', 'user,mnt,pid,net,uts,ipc'],
        ['C floor: the same without the net namespace', 'user,mnt,pid,uts,ipc'],
        ['C floor: a user namespace alone', 'user'],
        ['C floor: no namespace', 'plain'],
      ].map(([label, arg]) => {
        const xs = []
        for (let t = 0; t < trials; t++) xs.push(floor(arg))
        return [label, median(xs)]
      })
    : []
  console.log(`\nWhere the sandbox's time goes: the same spawn of /bin/true without one part at a time; ${rounds} runs each, interleaved, medians (C floors: medians of ${trials} loops of ${rounds})\n`)
  console.log('| spawnSync /bin/true | ms | the part left out costs |')
  console.log('|---|---|---|')
  cases.forEach(([label], i) => console.log(`| ${label} | ${ms[i].toFixed(3)} | ${i === 0 ? '' : `${(ms[0] - ms[i]).toFixed(3)} ms`} |`))
  for (const [label, v] of floors) console.log(`| ${label} | ${v.toFixed(3)} | |`)
}

if (want('mounts')) {
  // Many mounts in one spawn: n binds of one empty directory under a tmpfs root, after /usr and
  // /proc. bwrap gets the same as arguments.
  const many = 5000
  const counts = [0, 500, 2500, many]
  const source = join(dir, 'empty-dir')
  mkdirSync(source)
  const base = { namespaces: ['user', 'pid'], uidMap: 'root', gidMap: 'root', rootfs: 'tmpfs', env }
  const baseBwrap = ['--unshare-user', '--uid', '0', '--gid', '0', '--unshare-pid', ...usrBwrap, '--proc', '/proc']
  const entries = (n) => Array.from({ length: n }, (_, i) => ({ type: 'bind', source, target: `/m/${i}` }))
  const args = (n) => Array.from({ length: n }, (_, i) => ['--bind', source, `/m/${i}`]).flat()
  const count = ['/bin/sh', '-c', 'grep -c "" /proc/self/mountinfo']
  // spawn()'s runs first, then bwrap's: a bwrap run with thousands of mounts leaves the kernel
  // tearing them down, which would land on the next run.
  const spawnRuns = 11
  const bwrapRuns = 3
  const rows = counts.map((n) => ({
    n,
    options: { ...base, mounts: [...usrMounts, { type: 'proc' }, ...entries(n)] },
    bargs: [...baseBwrap, ...args(n)],
  }))
  for (const row of rows) {
    // Verified from inside: the mount table holds n more lines.
    const seen = spawnSync(count[0], count.slice(1), { ...row.options, encoding: 'utf8' })
    check(seen, `${row.n} mounts`)
    row.spawnLines = Number(seen.stdout)
    row.spawn = interleaved([['spawn', () => check(spawnSync('/bin/true', [], { ...row.options, stdio: 'ignore' }), `${row.n} mounts`)]], row.n === 0 ? rounds : spawnRuns, 1)[0]
  }
  for (const row of bwrapThere ? rows : []) {
    const b = cpSpawnSync('bwrap', [...row.bargs, ...count], { encoding: 'utf8', env })
    if (b.error) row.bwrapNote = `${b.error.code ?? b.error.message} (${row.bargs.length + count.length} arguments)`
    else if (b.status !== 0) row.bwrapNote = `refused: ${b.stderr.trim()} (it got ${row.bargs.length + count.length})`
    else {
      row.bwrapLines = Number(b.stdout)
      row.bwrap = interleaved([['bwrap', () => check(cpSpawnSync('bwrap', [...row.bargs, '/bin/true'], { stdio: 'ignore', env }), `bwrap ${row.n} mounts`)]], row.n === 0 ? rounds : bwrapRuns, 1)[0]
    }
  }
  const zero = rows[0]
  console.log(`\nMany mounts in one spawn: n bind mounts of one directory under a tmpfs root (after /usr and /proc), /bin/true; medians of ${spawnRuns} runs (spawn) and ${bwrapRuns} (bwrap), ${rounds} for n = 0\n`)
  console.log('| bind mounts | spawn() ms | per mount | mountinfo lines (spawn) | bwrap ms | per mount | mountinfo lines (bwrap) | bwrap / spawn() |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const per = (v, z) => (r.n === 0 || v === undefined ? '' : `${(((v - z) / r.n) * 1000).toFixed(1)} µs`)
    const lines = (l, z) => (l === undefined ? '' : r.n === 0 ? String(l) : `${l} (+${l - z})`)
    console.log(
      `| ${r.n.toLocaleString('en')} | ${r.spawn.toFixed(2)} | ${per(r.spawn, zero.spawn)} | ${lines(r.spawnLines, zero.spawnLines)} | ${r.bwrap === undefined ? r.bwrapNote ?? '' : r.bwrap.toFixed(2)} | ${per(r.bwrap, zero.bwrap)} | ${lines(r.bwrapLines, zero.bwrapLines)} | ${r.bwrap === undefined ? '' : `${(r.bwrap / r.spawn).toFixed(1)}x`} |`,
    )
    if (r.n > 0 && r.spawnLines - zero.spawnLines !== r.n) console.log(`  (spawn(): expected ${r.n} more mountinfo lines, saw ${r.spawnLines - zero.spawnLines})`)
    if (r.n > 0 && r.bwrapLines !== undefined && r.bwrapLines - zero.bwrapLines !== r.n) console.log(`  (bwrap: expected ${r.n} more mountinfo lines, saw ${r.bwrapLines - zero.bwrapLines})`)
  }
  // bwrap stops at 9,000 arguments, counting those read with --args FD too.
  if (bwrapThere) console.log(`\nbwrap refuses more than 9,000 arguments (those read with --args FD count too): with this layout, at most about ${Math.floor((9000 - baseBwrap.length - 1) / 3).toLocaleString('en')} binds. The per-mount figures leave out the spawn without binds.`)
}

if (want('heap')) {
  // The heap: a fork-style page-table copy would grow with it; CLONE_VM does not.
  const nsCase = ['namespaced', () => check(spawnSync('/bin/true', [], sandbox), 'namespaces')]
  const small = measure([nsCase])[0]
  globalThis.gc?.()
  const heap = []
  const target = 1024 * 1024 * 1024
  let bytes = 0
  while (bytes < target) {
    heap.push(new Float64Array(1024 * 128).fill(1))
    bytes += 1024 * 128 * 8
  }
  const rss = Math.round(Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096 / 1024 / 1024)
  const big = measure([nsCase])[0]
  console.log(`\nnamespaced spawnSync with a small heap: ${small.toFixed(3)} ms; with ${rss} MB resident: ${big.toFixed(3)} ms (${(big / small).toFixed(2)}x)`)
  heap.length = 0
  globalThis.gc?.()
}

if (want('reaper')) {
  // The reaper: every pending wait shares one thread.
  const threads = () => Number(readFileSync('/proc/self/status', 'utf8').match(/Threads:\s+(\d+)/)[1])
  const pending = 5000
  const before = threads()
  const waits = []
  for (let i = 0; i < pending; i++) {
    const pid = clone(() => execve('/bin/sleep', ['sleep', '3']))
    waits.push(waitExit(pid))
  }
  const withWaits = threads()
  await Promise.all(waits)
  const kids = []
  for (let i = 0; i < pending; i++) kids.push(spawn('/bin/sleep', ['3'], { stdio: 'ignore' }))
  const withSpawns = threads()
  await Promise.all(kids.map((k) => k.exited))
  console.log(`\nthreads: ${before} before, ${withWaits} with ${pending} waitExit() pending (+${withWaits - before}), ${withSpawns} with ${pending} spawn() children running (+${withSpawns - before})`)
}
