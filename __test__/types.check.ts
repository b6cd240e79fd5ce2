// Type-level tests, checked by `tsc --noEmit -p .` (npm run lint): each constant family is a
// type of its own, so a constant passed where another family is expected fails to compile.
import {
  clone,
  execve,
  FS,
  IO,
  kcmp,
  KCMP_VM,
  MNT_DETACH,
  MNT_FORCE,
  mount,
  MS_BIND,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  NEWNET,
  NEWUTS,
  NS_GET_NSTYPE,
  nsIoctl,
  pidfdSendSignal,
  PIDFD,
  setns,
  sethostname,
  setdomainname,
  SIGCHLD,
  umount,
  UMOUNT_NOFOLLOW,
  unshare,
  waitpid,
  WNOHANG,
  type WaitResult,
} from '../dist/index.js'

export function accepted(fd: number, pid: number): void {
  unshare(NEWNET)
  unshare(NEWNET | NEWUTS | IO)
  unshare(FS)
  setns(fd)
  setns(fd, NEWNET)
  setns({ fd }, 0)
  waitpid(pid, WNOHANG)
  kcmp(pid, pid, KCMP_VM)
  nsIoctl(fd, NS_GET_NSTYPE)
  clone(() => 0, 0, NEWNET | SIGCHLD)
  clone(() => 0, 0, PIDFD, new Int32Array(1))
  clone(() => {}, { namespaces: ['net', 'pid'], exitSignal: 'SIGCHLD' })
  clone(() => 1, { namespaces: ['user'], exitSignal: null, flags: PIDFD, ptid: new Int32Array(1) })
  pidfdSendSignal(fd, 'SIGTERM')
  pidfdSendSignal(fd, 'SIGRTMIN+3')
  const argv: readonly string[] = ['true']
  if (pid < 0) execve('/bin/true', argv, process.env)
  mount(null, '/', null, MS_REC | MS_PRIVATE)
  mount('tmpfs', '/mnt', 'tmpfs', MS_NOSUID, 'size=1m')
  mount('/src', '/dst', null, MS_BIND, null)
  mount(null, '/dst', null, MS_REMOUNT | MS_BIND | MS_RDONLY)
  mount('proc', '/proc', 'proc', 0)
  umount('/mnt')
  umount('/mnt', MNT_DETACH)
  umount('/mnt', MNT_DETACH | UMOUNT_NOFOLLOW)
  sethostname('box')
  setdomainname('example')
  const r: WaitResult | null = waitpid(pid)
  const name: NodeJS.Signals | `SIG${string}` | null | undefined = r?.signal
  void name
}

export function refused(fd: number, pid: number): void {
  // @ts-expect-error a wait option is no namespace type
  setns(fd, WNOHANG)
  // @ts-expect-error a clone flag is no namespace type either
  setns(fd, FS)
  // @ts-expect-error a kcmp type is no unshare flag
  unshare(KCMP_VM)
  // @ts-expect-error a namespace flag is no waitpid option
  waitpid(pid, NEWNET)
  // @ts-expect-error a clone flag is no kcmp type
  kcmp(pid, pid, FS)
  // @ts-expect-error a wait option is no clone flag
  clone(() => 0, 0, WNOHANG)
  // @ts-expect-error namespaces are named as in /proc/PID/ns
  clone(() => 0, { namespaces: ['network'] })
  // @ts-expect-error only SIGCHLD or none can be the exit signal
  clone(() => 0, { exitSignal: 'SIGTERM' })
  // @ts-expect-error not a signal name
  pidfdSendSignal(fd, 'SIGFOO')
  // @ts-expect-error a mount flag is no umount flag
  umount('/mnt', MS_BIND)
  // @ts-expect-error an umount flag is no mount flag
  mount(null, '/mnt', null, MNT_DETACH)
  // @ts-expect-error nor is a namespace flag
  mount(null, '/mnt', null, NEWNET)
  // @ts-expect-error a mount flag is no unshare flag
  unshare(MS_PRIVATE)
  // @ts-expect-error an umount flag is no waitpid option
  waitpid(pid, MNT_FORCE)
  // @ts-expect-error source is a string or null, not left out
  mount(undefined, '/mnt', 'tmpfs', 0)
  // @ts-expect-error a hostname is a string
  sethostname(1)
  // @ts-expect-error a callback returns an exit status or nothing
  clone(() => 'x', 0, SIGCHLD)
}
