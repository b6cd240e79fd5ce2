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

// clone(): the callback runs in a child with vfork semantics; its return value is the exit
// status, and what it writes is visible here afterwards. qemu-user cannot run this (it turns
// CLONE_VFORK into fork and answers CLONE_FILES and CLONE_NEW* with EINVAL): qemu-smoke.sh sets
// LC_SMOKE_QEMU_USER, and scripts/qemu-system-smoke.sh runs the check on an arm64 kernel.
if (process.env.LC_SMOKE_QEMU_USER) {
  console.log('skip - clone(): qemu-user cannot emulate CLONE_VM|CLONE_VFORK|CLONE_FILES; scripts/qemu-system-smoke.sh runs it')
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
}
finish()
