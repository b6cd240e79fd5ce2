// seccomp policies by name: compileSeccomp()'s output, each preset refusing what it names and
// nothing else, and policies given to spawn() directly; observed with ordinary programs.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import { compileSeccomp, seccompPresets, spawnSync, type SeccompPolicy, type SpawnOptions } from '../dist/index.js'
import { asRoot } from './_helpers.js'

const root = asRoot('mounting, and namespaces without a user namespace, need root')
const python = fs.existsSync('/usr/bin/python3')
const withPython: typeof test = python ? test : (console.log('skipping tests that need /usr/bin/python3: not installed'), test.skip as typeof test)
const unshareTool = spawnSync('unshare', ['--version']).status === 0
const withUnshare: typeof test = unshareTool ? root : (console.log('skipping tests that need util-linux unshare: not installed'), test.skip as typeof test)

const EPERM = os.constants.errno.EPERM

/** Runs a python snippet that prints one line; returns it. */
function py(t: ExecutionContext, code: string, options: SpawnOptions = {}): string {
  const r = spawnSync('/usr/bin/python3', ['-c', code], { ...options, encoding: 'utf8' })
  t.is(r.error, undefined, r.error?.message)
  t.is(r.status, 0, r.stderr)
  return r.stdout.trim()
}

const attempt = (expr: string) => `
import os, socket, ctypes, fcntl, termios, pty
try:
    r = ${expr}
    print('ok')
except OSError as e:
    print('errno', e.errno)`

test('compileSeccomp: equal policies give equal bytes; x64 and arm64 differ; both start by checking the architecture', (t) => {
  const a = compileSeccomp(seccompPresets.noUnixSockets, 'x64')
  const b = compileSeccomp(JSON.parse(JSON.stringify(seccompPresets.noUnixSockets)) as SeccompPolicy, 'x64')
  const arm = compileSeccomp(seccompPresets.noUnixSockets, 'arm64')
  t.true(a instanceof Uint8Array)
  t.deepEqual(Buffer.from(a), Buffer.from(b))
  t.notDeepEqual(Buffer.from(a), Buffer.from(arm))
  t.is(a.length % 8, 0)
  // ld [4] (the audit arch), then jeq AUDIT_ARCH_X86_64 / AUDIT_ARCH_AARCH64.
  const word = (u: Uint8Array, i: number) => Buffer.from(u).readUInt32LE(i * 8 + 4)
  t.is(word(a, 0), 4)
  t.is(word(a, 1), 0xc000003e)
  t.is(word(arm, 1), 0xc00000b7)
  // The machine's own architecture is the default.
  t.deepEqual(Buffer.from(compileSeccomp(seccompPresets.noUnixSockets)), Buffer.from(compileSeccomp(seccompPresets.noUnixSockets, process.arch as 'x64' | 'arm64')))
})

withPython('noUnixSockets: socket(AF_UNIX) fails with EPERM; AF_INET sockets and socketpair() still work', (t) => {
  const seccomp = seccompPresets.noUnixSockets
  t.is(py(t, attempt('socket.socket(socket.AF_UNIX)'), { seccomp }), `errno ${EPERM}`)
  t.is(py(t, attempt('socket.socket(socket.AF_UNIX)')), 'ok')
  t.is(py(t, attempt('socket.socket(socket.AF_INET)'), { seccomp }), 'ok')
  t.is(py(t, attempt('socket.socketpair()'), { seccomp }), 'ok')
})

withPython('noPtrace: ptrace and process_vm_readv fail with EPERM; other calls work', (t) => {
  const seccomp = seccompPresets.noPtrace
  const nr = process.arch === 'arm64' ? { ptrace: 117, vm: 270 } : { ptrace: 101, vm: 310 }
  // PTRACE_TRACEME (0) needs no target; process_vm_readv of nothing from ourselves.
  const call = (n: number, args: string) => `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(${n}, ${args})
print('ok' if r >= 0 else 'errno %d' % ctypes.get_errno())`
  t.is(py(t, call(nr.ptrace, '0, 0, 0, 0'), { seccomp }), `errno ${EPERM}`)
  t.is(py(t, call(nr.ptrace, '0, 0, 0, 0')), 'ok')
  t.is(py(t, call(nr.vm, 'os.getpid(), 0, 0, 0, 0, 0'), { seccomp }), `errno ${EPERM}`)
  t.is(py(t, call(nr.vm, 'os.getpid(), 0, 0, 0, 0, 0')), 'ok')
  t.is(py(t, attempt('os.getppid()'), { seccomp }), 'ok')
})

withUnshare('noNamespaces: no new namespace, no mount; fork and ordinary work go on', (t) => {
  const seccomp = seccompPresets.noNamespaces
  const sh = (script: string, options: SpawnOptions = {}) => spawnSync('/bin/sh', ['-c', script], { ...options, encoding: 'utf8' })
  const free = sh('unshare --net true && echo unshared; (echo forked) | cat')
  t.is(free.stdout, 'unshared\nforked\n', free.stderr)
  const denied = sh('unshare --net true || echo refused; unshare --user true || echo refused; (echo forked) | cat', { seccomp })
  t.is(denied.stdout, 'refused\nrefused\nforked\n')
  t.regex(denied.stderr, /unshare failed: Operation not permitted/)
  // Mounting in a mount namespace of its own: allowed without the filter, refused with it.
  const mount = 'mount -t tmpfs none /mnt && echo mounted || echo refused'
  t.is(sh(mount, { namespaces: ['mnt'] }).stdout, 'mounted\n')
  t.is(sh(mount, { namespaces: ['mnt'], seccomp }).stdout, 'refused\n')
})

withPython('noTiocsti: TIOCSTI and TIOCLINUX fail with EPERM, even with high bits set in the request; other ioctls work', (t) => {
  const seccomp = seccompPresets.noTiocsti
  const ioctlNr = process.arch === 'arm64' ? 29 : 16
  const sti = (request: string) => `
import ctypes, os, pty
libc = ctypes.CDLL(None, use_errno=True)
m, s = pty.openpty()
c = ctypes.c_char(b'x')
r = libc.syscall(${ioctlNr}, s, ctypes.c_ulong(${request}), ctypes.byref(c))
print('ok' if r >= 0 else 'errno %d' % ctypes.get_errno())`
  // As root, TIOCSTI works on any terminal without the filter (CAP_SYS_ADMIN).
  const rootOnly = process.getuid?.() === 0
  if (rootOnly) t.is(py(t, sti('0x5412')), 'ok')
  t.is(py(t, sti('0x5412'), { seccomp }), `errno ${EPERM}`)
  // The kernel reads the request as 32 bits: a filter comparing all 64 would be bypassed.
  t.is(py(t, sti('0xdead000000005412'), { seccomp }), `errno ${EPERM}`)
  t.is(py(t, sti('0x541c'), { seccomp }), `errno ${EPERM}`)
  t.is(py(t, attempt('fcntl.ioctl(pty.openpty()[1], termios.TIOCGWINSZ, b"\\0" * 8)'), { seccomp }), 'ok')
})

test('a policy by name in spawn(): errno by name, first matching rule decides, kill-process ends the program with SIGSYS', (t) => {
  const readonlyDirs: SeccompPolicy = { defaultAction: 'allow', rules: [{ syscalls: ['mkdir', 'mkdirat'], action: { errno: 'EROFS' } }] }
  const dir = fs.mkdtempSync(`${os.tmpdir()}/lc-seccomp-`)
  try {
    const r = spawnSync('/bin/sh', ['-c', `touch ${dir}/f && echo touched; mkdir ${dir}/d`], { seccomp: readonlyDirs, encoding: 'utf8' })
    t.is(r.stdout, 'touched\n')
    t.regex(r.stderr, /Read-only file system/)
    t.false(fs.existsSync(`${dir}/d`))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  // Arguments: kill(pid, 0) allowed by the first rule, any other kill() refused by the second.
  const signals: SeccompPolicy = {
    defaultAction: 'allow',
    rules: [
      { syscalls: ['kill'], action: 'allow', args: [{ index: 1, op: '==', value: 0 }] },
      { syscalls: ['kill'], action: { errno: 'EPERM' } },
    ],
  }
  const k = spawnSync('/bin/sh', ['-c', 'kill -0 $$ && echo probe-ok; kill -USR1 $$ || echo refused'], { seccomp: signals, encoding: 'utf8' })
  t.is(k.stdout, 'probe-ok\nrefused\n', k.stderr)
  const killed = spawnSync('/bin/sh', ['-c', 'exec mkdir /nonexistent/x'], { seccomp: { defaultAction: 'allow', rules: [{ syscalls: ['mkdir', 'mkdirat'], action: 'kill-process' }] } })
  t.is(killed.status, null)
  t.is(killed.signal, 'SIGSYS')
})

test('errors: unknown syscalls are named, bad actions, ops, indexes and values are refused with Node codes', (t) => {
  const policy = (rules: unknown, defaultAction: unknown = 'allow') => ({ defaultAction, rules }) as SeccompPolicy
  t.throws(() => compileSeccomp(policy([{ syscalls: ['openat', 'frobnicate', 'teleport'], action: 'allow' }])), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /names syscalls that neither x86-64 nor aarch64 has: 'frobnicate', 'teleport'/,
  })
  t.throws(() => compileSeccomp(policy([], 'deny')), { code: 'ERR_INVALID_ARG_VALUE', message: /policy\.defaultAction' must be 'allow'/ })
  t.throws(() => compileSeccomp(policy([], { errno: 'ENOTANERRNO' })), { code: 'ERR_INVALID_ARG_VALUE', message: /policy\.defaultAction\.errno/ })
  t.throws(() => compileSeccomp(policy([], { errno: 5000 })), { code: 'ERR_OUT_OF_RANGE', message: />= 1 && <= 4095/ })
  t.throws(() => compileSeccomp(policy([{ syscalls: ['kill'], action: 'allow', args: [{ index: 6, op: '==', value: 0 }] }])), { code: 'ERR_OUT_OF_RANGE', message: /args\[0\]\.index/ })
  t.throws(() => compileSeccomp(policy([{ syscalls: ['kill'], action: 'allow', args: [{ index: 0, op: '=~', value: 0 }] }])), { code: 'ERR_INVALID_ARG_VALUE', message: /args\[0\]\.op' must be one of/ })
  t.throws(() => compileSeccomp(policy([{ syscalls: ['kill'], action: 'allow', args: [{ index: 0, op: '&==', value: 0 }] }])), { code: 'ERR_INVALID_ARG_VALUE', message: /mask' is required with op '&=='/ })
  t.throws(() => compileSeccomp(policy([{ syscalls: ['kill'], action: 'allow', args: [{ index: 0, op: '==', value: 2 ** 60 }] }])), { code: 'ERR_OUT_OF_RANGE', message: /use a bigint/ })
  t.throws(() => compileSeccomp(policy([{ syscalls: ['kill'], action: 'allow', args: [{ index: 0, op: '==', value: 1n << 64n }] }])), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => compileSeccomp(policy([{ syscalls: [], action: 'allow' }])), { code: 'ERR_INVALID_ARG_VALUE', message: /at least one syscall/ })
  t.throws(() => compileSeccomp(policy('all')), { code: 'ERR_INVALID_ARG_TYPE', message: /policy\.rules/ })
  t.throws(() => compileSeccomp(seccompPresets.noPtrace, 'riscv64' as 'x64'), { code: 'ERR_INVALID_ARG_VALUE', message: /'x64' or 'arm64'/ })
  // Too long for the kernel: refused here with the limit, not by the kernel's bare EINVAL.
  const many = Array.from({ length: 1400 }, () => ({ syscalls: ['kill'], action: 'allow' as const, args: [{ index: 0, op: '==' as const, value: 1 }] }))
  t.throws(() => compileSeccomp(policy(many)), { code: 'ERR_OUT_OF_RANGE', message: /at most 4096 \(BPF_MAXINSNS\)/ })
  // A negative value is its 64-bit two's complement: -1 and 2n ** 64n - 1n compile alike.
  const neg = compileSeccomp(policy([{ syscalls: ['kill'], action: 'allow', args: [{ index: 0, op: '==', value: -1 }] }]))
  const big = compileSeccomp(policy([{ syscalls: ['kill'], action: 'allow', args: [{ index: 0, op: '==', value: (1n << 64n) - 1n }] }]))
  t.deepEqual(Buffer.from(neg), Buffer.from(big))
})

root('a policy compiled here is what bwrap --seccomp reads', (t) => {
  if (spawnSync('bwrap', ['--version']).status !== 0) return t.pass('skipped: bwrap is not installed')
  const file = `${os.tmpdir()}/lc-bwrap-seccomp-${process.pid}`
  fs.writeFileSync(file, compileSeccomp({ defaultAction: 'allow', rules: [{ syscalls: ['mkdir', 'mkdirat'], action: { errno: 'EROFS' } }] }))
  try {
    const r = spawnSync('/bin/sh', ['-c', `exec bwrap --bind / / --dev /dev --seccomp 3 mkdir /tmp/lc-never 3<${file}`], { encoding: 'utf8' })
    t.regex(r.stderr, /Read-only file system/)
    t.false(fs.existsSync('/tmp/lc-never'))
  } finally {
    fs.rmSync(file, { force: true })
  }
})
