'use strict'
// Smoke test for one prebuilt binary: node scripts/smoke.js ./linux-clone.linux-x64-gnu.node
// Loads the .node file directly (not through index.js), so it tests exactly that build, on any
// node >= 18 and under qemu-aarch64-static. Needs root (CAP_SYS_ADMIN) for the namespace checks.
// Prints one line per check and exits non-zero if any check fails.

const fs = require('fs')
const os = require('os')
const path = require('path')

const file = process.argv[2]
if (!file) {
  console.error('usage: node scripts/smoke.js <path to linux-clone.<platform>.node>')
  process.exit(2)
}

let passed = 0
let failed = 0
function check(name, fn) {
  try {
    const detail = fn()
    passed++
    console.log(`ok - ${name}${detail ? ` (${detail})` : ''}`)
    return true
  } catch (e) {
    failed++
    const extra = e && e.code ? ` [${e.code}]` : ''
    console.log(`not ok - ${name}: ${e && e.message ? e.message : e}${extra}`)
    return false
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

console.log(`# node ${process.version} ${process.platform}-${process.arch}, uid ${process.getuid()}, file ${file}`)

let m
if (!check('load binary', () => {
  m = require(path.resolve(file))
  return Object.keys(m).length + ' exports'
})) finish()

check('unshare is a function', () => assert(typeof m.unshare === 'function', typeof m.unshare))
check('setns is a function', () => assert(typeof m.setns === 'function', typeof m.setns))
check('NEWUTS === 0x04000000', () => assert(m.NEWUTS === 0x04000000, String(m.NEWUTS)))
check('NEWNET === 0x40000000', () => assert(m.NEWNET === 0x40000000, String(m.NEWNET)))

// unshare(NEWUTS) changes the calling (main JS) thread only: a hostname set through
// /proc/sys/kernel/hostname on this thread is seen by os.hostname() here, while the host's
// hostname stays as it was; setns() back into the saved namespace restores the old view.
const before = os.hostname()
const nsLink = '/proc/thread-self/ns/uts'
const nsBefore = fs.readlinkSync(nsLink)
const savedFd = fs.openSync(nsLink, 'r')
const newName = `lc-smoke-${process.pid}`

if (check('unshare(NEWUTS)', () => { m.unshare(m.NEWUTS) })) {
  check('thread is in a new UTS namespace', () => {
    const now = fs.readlinkSync(nsLink)
    assert(now !== nsBefore, `still ${now}`)
    return `${nsBefore} -> ${now}`
  })
  check('hostname change inside the namespace', () => {
    fs.writeFileSync('/proc/sys/kernel/hostname', newName)
    const h = os.hostname()
    assert(h === newName, `os.hostname() is ${h}`)
    return h
  })
  check('setns(fd, NEWUTS) back to the original namespace', () => {
    m.setns(savedFd, m.NEWUTS)
    const h = os.hostname()
    assert(fs.readlinkSync(nsLink) === nsBefore, 'namespace link differs')
    assert(h === before, `os.hostname() is ${h}, expected ${before}`)
    return `hostname ${h} unchanged`
  })
}
fs.closeSync(savedFd)

// spawn(): the binary's own spawnSync (dist/spawn.js builds this plan from the options). It runs
// under qemu-user too, which refuses CLONE_VM outside threads: spawn() finds that and copies
// the address space instead.
const spawnSync = (file, args, extra = {}) =>
  m._spawnSync(
    {
      file,
      args: [file, ...args],
      env: ['PATH=/usr/bin:/bin'],
      stdio: [{ kind: 'null' }, { kind: 'pipe' }, { kind: 'pipe' }],
      detached: false,
      namespaces: 0,
      join: [],
      loopback: false,
      pdeathsig: 0,
      exitSignal: m.SIGCHLD,
      ...extra,
    },
    undefined,
    0,
    15,
    0,
  )
check("spawnSync('/bin/sh', ['-c', 'echo hi; exit 3']): status 3, stdout 'hi'", () => {
  const r = spawnSync('/bin/sh', ['-c', 'echo hi; exit 3'])
  assert(r.status === 3 << 8, `status ${r.status}`)
  assert(String(r.output[1]) === 'hi\n', `stdout ${JSON.stringify(String(r.output[1]))}`)
  return `pid ${r.pid}`
})
// clone(): the callback runs in a child with vfork semantics; its return value is the exit
// status, and what it writes is visible here afterwards. qemu-user cannot run this (it turns
// CLONE_VFORK into fork and answers CLONE_FILES and CLONE_NEW* with EINVAL): qemu-smoke.sh sets
// LC_SMOKE_QEMU_USER, and scripts/qemu-system-smoke.sh runs the check on an arm64 kernel.
if (process.env.LC_SMOKE_QEMU_USER) {
  console.log('skip - clone(): qemu-user cannot emulate CLONE_VM|CLONE_VFORK|CLONE_FILES; scripts/qemu-system-smoke.sh runs it')
  check('spawn() found that children cannot share memory here, and copied it instead', () => {
    assert(m._probe().sharedMemoryClone === false, 'probe() says children share memory under qemu-user')
  })
} else {
  // The binary's own clone; the package's clone() (dist/clone.js) wraps it.
  const clone = m.nativeClone
  check('clone(() => 7, 0, SIGCHLD) exits 7', () => {
    let written = 0
    const pid = clone(() => {
      written = m.getpid()
      return 7
    }, 0, m.SIGCHLD)
    const r = m.waitpid(pid)
    assert(r && r.exitCode === 7, `waitpid gave ${JSON.stringify(r)}`)
    assert(written === pid, `the child wrote ${written}, expected its pid ${pid}`)
    return `pid ${pid}`
  })
  check('clone(NEWUTS | NEWPID): the child is pid 1 with its own hostname', () => {
    let seen = ''
    const pid = clone(() => {
      fs.writeFileSync('/proc/sys/kernel/hostname', newName)
      seen = `${m.getpid()} ${os.hostname()}`
    }, 0, m.NEWUTS | m.NEWPID | m.SIGCHLD)
    const r = m.waitpid(pid)
    assert(r && r.exitCode === 0, `waitpid gave ${JSON.stringify(r)}`)
    assert(seen === `1 ${newName}`, `the child saw ${seen}`)
    assert(os.hostname() === before, `the parent's hostname changed to ${os.hostname()}`)
    return seen
  })
  check('spawnSync in new UTS and pid namespaces: pid 1, its own hostname', () => {
    const r = spawnSync('/bin/sh', ['-c', 'echo $$; cat /proc/sys/kernel/hostname'], { namespaces: m.NEWUTS | m.NEWPID, hostname: 'lc-spawn' })
    assert(r.status === 0, `status ${r.status}: ${String(r.output[2])}`)
    assert(String(r.output[1]) === '1\nlc-spawn\n', `stdout ${JSON.stringify(String(r.output[1]))}`)
    assert(os.hostname() === before, `the parent's hostname changed to ${os.hostname()}`)
    return String(r.output[1]).trim().replace('\n', ' ')
  })
  // Confinement, on this architecture's kernel: mounts (a tmpfs, a read-only bind created in
  // it, a fresh /proc), no capabilities, no_new_privs, an allow-all seccomp filter, a limit,
  // and a reaper as pid 1 that trims its copy of the memory (the C library's rseq area kept).
  check('spawnSync confined: mounts, capabilities, no_new_privs, seccomp, rlimit, reaper', () => {
    const allow = Buffer.alloc(8)
    allow.writeUInt16LE(0x06, 0) // BPF_RET | BPF_K
    allow.writeUInt32LE(0x7fff0000, 4) // SECCOMP_RET_ALLOW
    const script = 'echo $$; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t" " "; ulimit -n; touch /tmp/ro/x 2>/dev/null || echo read-only; sleep 1; grep -c . /proc/1/maps; exit 4'
    const r = spawnSync('/bin/sh', ['-c', script], {
      namespaces: m.NEWNS | m.NEWPID,
      cwd: '/',
      cwdFallback: true,
      propagation: 'private',
      mounts: [
        { kind: 'tmpfs', target: '/tmp' },
        { kind: 'bind', source: '/bin', target: '/tmp/ro', readonly: true },
        { kind: 'proc', target: '/proc' },
      ],
      capabilities: { keep: [], ambient: [] },
      noNewPrivs: true,
      seccomp: allow,
      rlimits: [{ resource: 7, name: 'nofile', soft: 64 }],
      reaper: true,
    })
    const out = String(r.output[1]).trim().split('\n')
    assert(r.status === 4 << 8, `status ${r.status}: ${String(r.output[2])}`)
    const expected = ['2', 'CapEff: 0000000000000000', 'CapBnd: 0000000000000000', 'NoNewPrivs: 1', 'Seccomp: 2', '64', 'read-only']
    assert(JSON.stringify(out.slice(0, 7)) === JSON.stringify(expected), `saw ${JSON.stringify(out)}`)
    // The reaper holds a few mappings (its stack, the addon, the rseq area), not this process's.
    assert(Number(out[7]) < 40, `pid 1 has ${out[7]} mappings`)
    return `pid 1 has ${out[7]} mappings`
  })
  // A seccomp policy by name, compiled by the binary for this machine's architecture (the
  // aarch64 tables on arm64): mkdir fails with EROFS, everything else runs.
  check('compileSeccomp: a policy by name, compiled for this architecture, refuses mkdir with EROFS', () => {
    const policy = { defaultAction: { kind: 'allow' }, rules: [{ syscalls: ['mkdir', 'mkdirat'], action: { kind: 'errno', errno: 30 }, args: [] }] }
    const filter = Buffer.from(m._compileSeccomp(policy))
    const audit = filter.readUInt32LE(12)
    const want = process.arch === 'arm64' ? 0xc00000b7 : 0xc000003e
    assert(audit === want, `the filter checks arch ${audit.toString(16)}, not ${want.toString(16)}`)
    const r = spawnSync('/bin/sh', ['-c', 'echo ran; mkdir /tmp/lc-smoke-never 2>&1'], { seccomp: filter })
    const out = String(r.output[1])
    assert(/^ran\n.*Read-only file system/s.test(out), `saw ${JSON.stringify(out)}`)
    assert(!fs.existsSync('/tmp/lc-smoke-never'), 'mkdir was not refused')
    return `${filter.length / 8} instructions`
  })
  // Landlock on this kernel, where it has it: the program runs /bin but cannot read elsewhere.
  check('spawnSync with Landlock: /bin runs, other files cannot be read', () => {
    const support = m._probe().landlock
    if (support.abi === 0) return `no Landlock on this kernel: ${support.cause}`
    const landlock = { fs: true, paths: [{ path: '/bin', access: ['execute'] }, { path: '/usr', access: ['execute'] }], scope: [], require: false }
    const r = spawnSync('/bin/sh', ['-c', `out=$(cat ${JSON.stringify(file)} 2>&1 | head -c 200); case $out in *'Permission denied'*) echo denied;; *) echo read;; esac`], { landlock, noNewPrivs: true })
    assert(r.status === 0, `status ${r.status}: ${String(r.output[2])}`)
    assert(String(r.output[1]) === 'denied\n', `saw ${JSON.stringify(String(r.output[1]))}`)
    return `Landlock ABI ${support.abi}`
  })
  check("spawnSync: a missing program is step 'execve' ENOENT", () => {
    let e
    try {
      spawnSync('/nonexistent', [])
    } catch (err) {
      e = err
    }
    assert(e && e.code === 'ENOENT' && e.step === 'execve', `got ${e && e.message}`)
  })
}
finish()
