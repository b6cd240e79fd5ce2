import test from 'ava'
import fs from 'node:fs'
import * as lc from '../dist/index.js'
import { ok, runIsolated } from './_helpers.js'

// Wrong arguments are rejected before any syscall, so these run in the test process itself.
type Call = [string, () => unknown]

const typeErrors: Call[] = [
  ['unshare()', () => (lc.unshare as (...a: unknown[]) => void)()],
  ["unshare('NEWNET')", () => lc.unshare('NEWNET' as unknown as number)],
  ['unshare(null)', () => lc.unshare(null as unknown as number)],
  ['unshare(1n)', () => lc.unshare(1n as unknown as number)],
  ['unshare({})', () => lc.unshare({} as unknown as number)],
  ["setns('3')", () => lc.setns('3' as unknown as number)],
  ['setns({})', () => lc.setns({} as unknown as number)],
  ["setns({ fd: '3' })", () => lc.setns({ fd: '3' } as unknown as number)],
  ["setns(3, 'NEWNET')", () => lc.setns(3, 'NEWNET' as unknown as number)],
  ['setns(3, null)', () => lc.setns(3, null as unknown as number)],
  ['pivotRoot(1, "/")', () => lc.pivotRoot(1 as unknown as string, '/')],
  ['pivotRoot("/", undefined)', () => lc.pivotRoot('/', undefined as unknown as string)],
  ["kcmp('1', 1, 0)", () => lc.kcmp('1' as unknown as number, 1, 0)],
  ['kcmp(1, 1, undefined)', () => lc.kcmp(1, 1, undefined as unknown as number)],
  ["kcmp(1, 1, 0, '3')", () => lc.kcmp(1, 1, 0, '3' as unknown as number)],
  ["pidfdOpen('1')", () => lc.pidfdOpen('1' as unknown as number)],
  ['nsIoctl(0, true)', () => lc.nsIoctl(0, true as unknown as number)],
]

const rangeErrors: Call[] = [
  ['unshare(1.5)', () => lc.unshare(1.5)],
  ['unshare(NaN)', () => lc.unshare(NaN)],
  ['unshare(Infinity)', () => lc.unshare(Infinity)],
  ['unshare(2 ** 32)', () => lc.unshare(2 ** 32)],
  ['unshare(-(2 ** 31) - 1)', () => lc.unshare(-(2 ** 31) - 1)],
  ['setns(1.5)', () => lc.setns(1.5)],
  ['setns(2 ** 31)', () => lc.setns(2 ** 31)],
  ['setns({ fd: 0.5 })', () => lc.setns({ fd: 0.5 })],
  ['setns(0, 2 ** 32)', () => lc.setns(0, 2 ** 32)],
  ['kcmp(0, 1, 0)', () => lc.kcmp(0, 1, 0)],
  ['kcmp(1, 2 ** 31, 0)', () => lc.kcmp(1, 2 ** 31, 0)],
  ['kcmp(1, 1, -1)', () => lc.kcmp(1, 1, -1)],
  ['kcmp(1, 1, 0, -1)', () => lc.kcmp(1, 1, 0, -1)],
  ['kcmp(1, 1, 0, 0, 2 ** 53)', () => lc.kcmp(1, 1, 0, 0, 2 ** 53)],
  ['pidfdOpen(0)', () => lc.pidfdOpen(0)],
  ['pidfdOpen(-1)', () => lc.pidfdOpen(-1)],
  ['pidfdOpen(1.5)', () => lc.pidfdOpen(1.5)],
  ['nsIoctl(0, 0x5401)', () => lc.nsIoctl(0, 0x5401)],
]

for (const [name, call] of typeErrors) {
  test(`${name} is a TypeError ERR_INVALID_ARG_TYPE`, (t) => {
    const err = t.throws(call, { instanceOf: TypeError })
    t.is((err as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_TYPE')
    t.regex(err!.message, /^The "\w+" argument must be of type .+\. Received /)
  })
}

for (const [name, call] of rangeErrors) {
  test(`${name} is a RangeError ERR_OUT_OF_RANGE`, (t) => {
    const err = t.throws(call, { instanceOf: RangeError })
    t.is((err as NodeJS.ErrnoException).code, 'ERR_OUT_OF_RANGE')
    t.regex(err!.message, /^The value of "\w+" is out of range\. It must be .+\. Received /)
  })
}

test('messages say what was received, as Node does', (t) => {
  t.throws(() => lc.unshare('NEWNET' as unknown as number), { message: `The "flags" argument must be of type number. Received type string ('NEWNET')` })
  t.throws(() => lc.unshare(null as unknown as number), { message: 'The "flags" argument must be of type number. Received null' })
  t.throws(() => lc.setns(new Map() as unknown as number), { message: 'The "fd" argument must be of type number or an instance of FileHandle. Received an instance of Map' })
  t.throws(() => lc.unshare(1.5), { message: 'The value of "flags" is out of range. It must be an integer. Received 1.5' })
  t.throws(() => lc.unshare(2 ** 32), { message: 'The value of "flags" is out of range. It must be >= -2147483648 && < 4294967296. Received 4294967296' })
})

test('a path with a NUL byte is a TypeError ERR_INVALID_ARG_VALUE', (t) => {
  const err = t.throws(() => lc.pivotRoot('/tmp\0x', '/tmp'), { instanceOf: TypeError })
  t.is((err as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_VALUE')
  t.regex(err!.message, /newRoot.*without null bytes/)
})

test('flags at both ends of the accepted range reach the kernel, not a RangeError', (t) => {
  // -2^31 is IO as int32; 2^32 - 1 sets every bit. Both are EINVAL from unshare(2) itself,
  // checked before any namespace is made, so the test process is left as it was.
  for (const flags of [-(2 ** 31), 2 ** 32 - 1 - lc.NEWPID - lc.NEWTIME - lc.FILES]) {
    const err = t.throws(() => lc.unshare(flags)) as NodeJS.ErrnoException
    t.is(err.code, 'EINVAL', String(flags))
    t.is(err.syscall, 'unshare')
  }
})

test('a closed FileHandle passed to setns is EBADF from the kernel', async (t) => {
  const fh = await fs.promises.open('/proc/self/ns/net', 'r')
  await fh.close()
  const err = t.throws(() => lc.setns(fh)) as NodeJS.ErrnoException
  t.is(err.code, 'EBADF')
  t.is(err.errno, -9)
  t.is(err.syscall, 'setns')
})

test('no argument, however wrong, crashes the process: every call throws an Error', async (t) => {
  // In a process of its own: a call that unexpectedly succeeded could change namespaces.
  const r = ok(
    t,
    await runIsolated(`
      const weird = [undefined, null, true, -1, 2 ** 53, NaN, 0.5, '', 'x'.repeat(5000), Symbol('s'), 1n, {}, [], () => 1,
        Object.create(null), new Proxy({}, { get() { throw new Error('trap') } }), { fd: Symbol() },
        { get fd() { throw new Error('getter') } }, { fd: 1n }, new Uint8Array(8)];
      const calls = {
        unshare: (a) => lc.unshare(a),
        setns: (a, b) => lc.setns(a, b),
        pivotRoot: (a, b) => lc.pivotRoot(a, b),
        kcmp: (a, b) => lc.kcmp(process.pid, process.pid, lc.KCMP_EPOLL_TFD, a, b),
        pidfdOpen: (a) => lc.pidfdOpen(a),
        nsIoctl: (a, b) => lc.nsIoctl(a, b),
      };
      const notErrors = [];
      let calls_made = 0;
      for (const [name, f] of Object.entries(calls)) {
        for (const a of weird) for (const b of [undefined, ...weird.slice(0, 6)]) {
          calls_made++;
          try { f(a, b); notErrors.push(name + ' returned') } catch (e) { if (!(e instanceof Error)) notErrors.push(name + ' threw ' + typeof e) }
        }
      }
      report({ calls_made, notErrors, alive: true });
    `),
  ) as { calls_made: number; notErrors: string[]; alive: boolean }
  t.true(r.alive)
  t.true(r.calls_made > 700)
  t.deepEqual(r.notErrors, [])
})
