import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  kcmp,
  KCMP_FILE,
  KCMP_VM,
  KCMP_EPOLL_TFD,
  NEWUTS,
  NEWUSER,
  NS_GET_NSTYPE,
  NS_GET_OWNER_UID,
  NS_GET_PARENT,
  NS_GET_USERNS,
  nsIoctl,
  pidfdOpen,
} from '../dist/index.js'
import { asRoot, isSystemError, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const root = asRoot('mounts and pivot_root need CAP_SYS_ADMIN')

test('kcmp: a process compared with itself shares its address space (0)', async (t) => {
  t.is(kcmp(process.pid, process.pid, KCMP_VM), 0)
})

test('kcmp: another process has a different address space, and two fds of one file compare equal', async (t) => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  await once(child, 'spawn')
  try {
    t.not(kcmp(process.pid, child.pid!, KCMP_VM), 0)
    const fd = fs.openSync('/etc/hostname', 'r')
    const dup = fs.openSync(`/proc/self/fd/${fd}`, 'r') // a new open file description
    const same = fs.openSync('/dev/null', 'r')
    t.not(kcmp(process.pid, process.pid, KCMP_FILE, fd, dup), 0)
    t.is(kcmp(process.pid, process.pid, KCMP_FILE, fd, fd), 0)
    t.not(kcmp(process.pid, process.pid, KCMP_FILE, fd, same), 0)
    for (const f of [fd, dup, same]) fs.closeSync(f)
  } finally {
    child.kill()
  }
})

test('kcmp: a missing process is ESRCH, a closed fd EBADF, an unknown type EINVAL', async (t) => {
  const gone = await deadPid()
  isSystemError(t, t.throws(() => kcmp(process.pid, gone, KCMP_VM)), 'ESRCH', 'kcmp', new RegExp(`no process ${gone}`))
  isSystemError(t, t.throws(() => kcmp(process.pid, process.pid, KCMP_FILE, 999_999, 0)), 'EBADF', 'kcmp', /fd 999999 is not open/)
  isSystemError(t, t.throws(() => kcmp(process.pid, process.pid, 99)), 'EINVAL', 'kcmp', /99 is not a KCMP_\* type/)
})

root('kcmp: an unprivileged caller is EPERM on a root process and names ptrace access', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.kcmp(process.pid, ${process.pid}, lc.KCMP_VM)))`, { uid: 65534 }))
  isSystemError(t, r, 'EPERM', 'kcmp', /ptrace read access/)
})

test('kcmp with KCMP_EPOLL_TFD finds a file in an epoll set, and names what is wrong otherwise', async (t) => {
  // libuv's own epoll instance: /proc/self/fdinfo lists the files registered in it.
  let slot: { efd: number; tfd: number } | undefined
  for (const fd of fs.readdirSync('/proc/self/fd').map(Number)) {
    let info = ''
    try {
      if (!fs.readlinkSync(`/proc/self/fd/${fd}`).includes('eventpoll')) continue
      info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
    } catch {
      continue
    }
    const tfd = /^tfd:\s+(\d+)/m.exec(info)
    if (tfd) slot = { efd: fd, tfd: Number(tfd[1]) }
  }
  if (!slot) return t.fail('no epoll instance with a registered file in this process')
  t.is(kcmp(process.pid, process.pid, KCMP_EPOLL_TFD, slot.tfd, { ...slot, toff: 0 }), 0)
  const other = fs.openSync('/dev/null', 'r')
  try {
    // A file that is not in the set: ENOENT.
    const absent = t.throws(() => kcmp(process.pid, process.pid, KCMP_EPOLL_TFD, other, { efd: slot!.efd, tfd: other, toff: 0 }))
    isSystemError(t, absent, 'ENOENT', 'kcmp', /not registered in that epoll instance/)
    // efd that is no epoll instance: EINVAL, saying so (not that the type is unknown).
    const notEpoll = t.throws(() => kcmp(process.pid, process.pid, KCMP_EPOLL_TFD, other, { efd: other, tfd: other, toff: 0 }))
    isSystemError(t, notEpoll, 'EINVAL', 'kcmp', /does not name an epoll instance of process \d+/)
    t.notRegex((notEpoll as SystemErrorShape).message, /is not a KCMP_\* type/)
  } finally {
    fs.closeSync(other)
  }
  t.throws(() => kcmp(process.pid, process.pid, KCMP_EPOLL_TFD, 0, 5 as unknown as { efd: number; tfd: number; toff: number }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /\{ efd, tfd, toff \}/ })
})

test('pidfdOpen: a pidfd for a live process, ESRCH for a missing one, EINVAL for a thread', async (t) => {
  const fd = pidfdOpen(process.pid)
  t.true(fd > 2)
  t.regex(fs.readlinkSync(`/proc/self/fd/${fd}`), /pidfd/)
  fs.closeSync(fd)
  const gone = await deadPid()
  isSystemError(t, t.throws(() => pidfdOpen(gone)), 'ESRCH', 'pidfd_open', new RegExp(`no process ${gone}`))
  const thread = fs.readdirSync('/proc/self/task').map(Number).find((tid) => tid !== process.pid)
  if (thread === undefined) return t.fail('Node.js should have threads besides the main one')
  const err = t.throws(() => pidfdOpen(thread)) as SystemErrorShape
  // Linux 6.9+ answers ENOENT for a thread id, older kernels EINVAL.
  isSystemError(t, err, err.code === 'ENOENT' ? 'ENOENT' : 'EINVAL', 'pidfd_open', /not a process but another thread/)
})

test('nsIoctl: the type of a namespace, its owner, the owner uid', async (t) => {
  const uts = fs.openSync('/proc/self/ns/uts', 'r')
  t.is(nsIoctl(uts, NS_GET_NSTYPE), NEWUTS)
  const userns = nsIoctl(uts, NS_GET_USERNS)
  t.is(nsIoctl(userns, NS_GET_NSTYPE), NEWUSER)
  t.is(nsIoctl(userns, NS_GET_OWNER_UID), 0)
  isSystemError(t, t.throws(() => nsIoctl(uts, NS_GET_PARENT)), 'EINVAL', 'ioctl', /only pid and user namespaces have a parent/)
  isSystemError(t, t.throws(() => nsIoctl(userns, NS_GET_PARENT)), 'EPERM', 'ioctl', /outside the caller's namespace/)
  const file = fs.openSync('/etc/hostname', 'r')
  isSystemError(t, t.throws(() => nsIoctl(file, NS_GET_NSTYPE)), 'ENOTTY', 'ioctl', /does not refer to a namespace/)
  isSystemError(t, t.throws(() => nsIoctl(-1, NS_GET_NSTYPE)), 'EBADF', 'ioctl', /-1 is not an open file descriptor/)
  t.throws(() => nsIoctl(uts, 0x5401), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /NS_GET_USERNS/ })
  for (const f of [uts, userns, file]) fs.closeSync(f)
})

root('pivotRoot in a new mount namespace of a child process swaps the root', async (t) => {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/lc-root-`)
  try {
    const r = ok(
      t,
      await runIsolated(`
        lc.unshare(lc.NEWNS);
        execSync('mount --make-rprivate /');
        execSync('mount -t tmpfs lc-newroot ${dir}');
        fs.mkdirSync('${dir}/old');
        fs.writeFileSync('${dir}/only-in-the-new-root', 'x');
        lc.pivotRoot('${dir}', '${dir}/old');
        report({
          marker: fs.existsSync('/only-in-the-new-root'),
          oldRootBelow: fs.existsSync('/old${dir}'),
          etcGone: fs.existsSync('/etc/hostname'),
        });
      `),
    )
    t.deepEqual(r, { marker: true, oldRootBelow: true, etcGone: false })
    t.false(fs.existsSync('/only-in-the-new-root'))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

root('pivotRoot errors: on the root mount (EBUSY), not a mount point (EINVAL), missing (ENOENT), not a directory (ENOTDIR)', async (t) => {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/lc-root-`)
  try {
    fs.mkdirSync(`${dir}/old`)
    fs.mkdirSync(`${dir}/tmpfs`)
    fs.writeFileSync(`${dir}/file`, '')
    const r = ok(
      t,
      await runIsolated(`
        lc.unshare(lc.NEWNS);
        execSync('mount --make-rprivate /');
        execSync('mount -t tmpfs lc-tmpfs ${dir}/tmpfs');
        fs.mkdirSync('${dir}/tmpfs/sub/old', { recursive: true });
        const out = {};
        const attempts = { EBUSY: ['${dir}', '${dir}/old'], EINVAL: ['${dir}/tmpfs/sub', '${dir}/tmpfs/sub/old'], ENOENT: ['${dir}/missing', '${dir}/old'], ENOTDIR: ['${dir}/file', '${dir}/old'] };
        for (const [k, [a, b]] of Object.entries(attempts)) {
          try { lc.pivotRoot(a, b); out[k] = 'no error' } catch (e) { out[k] = { ...describe(e), path: e.path, dest: e.dest } }
        }
        report(out);
      `),
    ) as Record<string, SystemErrorShape & { path: string; dest: string }>
    isSystemError(t, r.EBUSY, 'EBUSY', 'pivot_root', /must not be on the current root's mount.*bind-mount it onto itself/)
    isSystemError(t, r.EINVAL, 'EINVAL', 'pivot_root', /must be a mount point.*make-rprivate/)
    isSystemError(t, r.ENOENT, 'ENOENT', 'pivot_root', /does not exist/)
    isSystemError(t, r.ENOTDIR, 'ENOTDIR', 'pivot_root', /must both be directories/)
    t.is(r.EBUSY.path, dir)
    t.is(r.EBUSY.dest, `${dir}/old`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

root('pivotRoot as an unprivileged user is EPERM and names CAP_SYS_ADMIN', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.pivotRoot('/tmp', '/tmp')))`, { uid: 65534 }))
  isSystemError(t, r, 'EPERM', 'pivot_root', /needs CAP_SYS_ADMIN/)
})

/** A pid that no process has: one just reaped. */
async function deadPid(): Promise<number> {
  const r = await runIsolated('report(process.pid)')
  return r.result as number
}
