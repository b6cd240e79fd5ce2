import test from 'ava'
import { createRequire } from 'node:module'
import { readdirSync, readFileSync } from 'node:fs'
import * as lc from '../dist/index.js'
import { NEWNET, NEWUTS, IO, unshare } from '../dist/index.js'
import { entry, isSystemError, root, type SystemErrorShape } from './_helpers.js'

const require = createRequire(import.meta.url)

// Kernel values from linux/sched.h, linux/kcmp.h and linux/nsfs.h.
const expected: Record<string, number> = {
  CSIGNAL: 0xff,
  VM: 0x100,
  FS: 0x200,
  FILES: 0x400,
  SIGHAND: 0x800,
  PIDFD: 0x1000,
  PTRACE: 0x2000,
  VFORK: 0x4000,
  PARENT: 0x8000,
  THREAD: 0x10000,
  NEWNS: 0x20000,
  SYSVSEM: 0x40000,
  SETTLS: 0x80000,
  PARENT_SETTID: 0x100000,
  CHILD_CLEARTID: 0x200000,
  DETACHED: 0x400000,
  UNTRACED: 0x800000,
  CHILD_SETTID: 0x1000000,
  NEWCGROUP: 0x2000000,
  NEWUTS: 0x4000000,
  NEWIPC: 0x8000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  IO: 0x80000000,
  NEWTIME: 0x80,
  KCMP_FILE: 0,
  KCMP_VM: 1,
  KCMP_FILES: 2,
  KCMP_FS: 3,
  KCMP_SIGHAND: 4,
  KCMP_IO: 5,
  KCMP_SYSVSEM: 6,
  KCMP_EPOLL_TFD: 7,
  NS_GET_USERNS: 0xb701,
  NS_GET_PARENT: 0xb702,
  NS_GET_NSTYPE: 0xb703,
  NS_GET_OWNER_UID: 0xb704,
}

test('every Linux::Clone 1.3 constant is a plain number with its kernel value', (t) => {
  const exports = lc as unknown as Record<string, unknown>
  for (const [name, value] of Object.entries(expected)) {
    t.is(exports[name], value, name)
  }
})

test('the functions of the API are exported', (t) => {
  for (const name of ['unshare', 'setns', 'pivotRoot', 'kcmp', 'pidfdOpen', 'configureLoopback', 'nsIoctl']) {
    t.is(typeof (lc as unknown as Record<string, unknown>)[name], 'function', name)
  }
})

test('CommonJS require() gives the same functions as the ES module import', (t) => {
  const cjs = require(entry) as typeof lc
  t.is(cjs.unshare, unshare)
  t.is(cjs.NEWNET, NEWNET)
})

test('the package resolves by its name for both require and import', async (t) => {
  // Self-reference through package.json "exports", as a dependant would load it.
  const byName = createRequire(`${root}package.json`)('linux-clone') as typeof lc
  t.is(byName.unshare, unshare)
  const esm = (await import('linux-clone')) as typeof lc
  t.is(esm.unshare, unshare)
})

test('flags combined with | reach the kernel with every bit, even when JavaScript makes them negative', (t) => {
  // NEWUTS | IO is negative in JavaScript; IO (bit 31) must still reach unshare(2), which
  // rejects it by name before it checks any privilege.
  t.true((NEWUTS | IO) < 0)
  const e = t.throws(() => unshare(NEWUTS | IO)) as SystemErrorShape
  isSystemError(t, e, 'EINVAL', 'unshare', /does not accept IO/)
  t.regex(e.message, /^EINVAL: unshare\(NEWUTS\|IO\) failed/)
})

test('the public types declare every export without any, and no internal name', (t) => {
  const layer = readdirSync(`${root}dist`).filter((f) => f.endsWith('.d.ts'))
  const dts = layer.map((f) => readFileSync(`${root}dist/${f}`, 'utf8')).join('\n')
  for (const name of Object.keys(lc)) {
    if (name === 'default') continue
    t.regex(dts, new RegExp(`export (declare )?(const|function|class) ${name}\\b`), name)
  }
  const code = dts.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
  t.notRegex(code, /\bany\b/)
  for (const internal of ['nativeClone', '__napiBindingTarget', '_spawn', '_spawnSync', '_watchExit', '_exitRef', '_probe', '_closeFd', '_waitpidPacked']) {
    t.false(internal in lc, internal)
  }
})
