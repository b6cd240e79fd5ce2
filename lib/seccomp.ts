// seccomp policies by name: their types, the presets sandbox libraries need, and their checks
// into the native compiler (src/seccomp.rs), which knows the syscall numbers per architecture.
import { constants as osConstants } from 'node:os'

import type * as native from '../index.js'
import type { Checks } from './confine.js'

/** What a seccomp rule (or the policy's default) does with a syscall it matches. */
export type SeccompAction =
  /** The syscall runs. */
  | 'allow'
  /** The whole process is killed with SIGSYS (SECCOMP_RET_KILL_PROCESS, Linux 4.14+). */
  | 'kill-process'
  /** The calling thread is killed with SIGSYS (SECCOMP_RET_KILL_THREAD). */
  | 'kill-thread'
  /** The thread gets SIGSYS, which it may handle (SECCOMP_RET_TRAP). */
  | 'trap'
  /** The syscall runs and is logged to the audit log (SECCOMP_RET_LOG, Linux 4.14+). */
  | 'log'
  /** The syscall fails with this errno, by name ('EPERM') or number (1..4095). */
  | {
      /** The errno, by name ('EPERM') or number (1..4095). */
      readonly errno: string | number
    }

/** A condition on one of the syscall's six arguments, compared as unsigned 64-bit numbers
 * (a negative value is read as its two's complement, as the kernel passes it). */
export interface SeccompArgCondition {
  /** The argument, 0..5. */
  readonly index: number
  /** '&==': `(arg & mask) == value`. */
  readonly op: '==' | '!=' | '<' | '<=' | '>' | '>=' | '&=='
  /** What the argument is compared with. */
  readonly value: number | bigint
  /** With '&==' only. */
  readonly mask?: number | bigint
}

/** A rule: the first rule (in order) whose syscall and conditions match decides. */
export interface SeccompRule {
  /** Syscall names as the kernel's tables spell them ('openat', 'socket'). A name only one of
   * x86-64 and aarch64 has (open, fork...) is left out of the other's filter; a name neither has
   * is an error. */
  readonly syscalls: readonly string[]
  /** What happens when the rule matches. */
  readonly action: SeccompAction
  /** All must hold (at most 6). */
  readonly args?: readonly SeccompArgCondition[]
}

/** A seccomp policy: `rules` tried in order, `defaultAction` for every syscall no rule matches.
 * Compiled filters first check the architecture (a syscall of another ABI, x32 included, kills
 * the process) so that no rule is judged by another architecture's syscall numbers. */
export interface SeccompPolicy {
  /** What happens to a syscall no rule matches. */
  readonly defaultAction: SeccompAction
  /** The rules, tried in order: the first that matches decides. */
  readonly rules: readonly SeccompRule[]
}

/** The architectures compileSeccomp() compiles for. */
export type SeccompArch = 'x64' | 'arm64'

const ACTIONS = ['allow', 'kill-process', 'kill-thread', 'trap', 'log'] as const
const OPS = ['==', '!=', '<', '<=', '>', '>=', '&=='] as const
const errnos = osConstants.errno as Readonly<Record<string, number>>
const U64 = 1n << 64n

function actionSlot(value: unknown, name: string, c: Checks): native.SeccompActionSlot {
  if (typeof value === 'string') {
    if (!(ACTIONS as readonly string[]).includes(value))
      throw c.valueError(name, `must be ${ACTIONS.map((a) => `'${a}'`).join(', ')} or { errno }`, value)
    return { kind: value }
  }
  if (typeof value !== 'object' || value === null) throw c.typeError(name, 'a string or { errno }', value)
  const e = (value as { errno?: unknown }).errno
  if (typeof e === 'string') {
    const n = errnos[e]
    if (n === undefined) throw c.valueError(`${name}.errno`, 'must be an errno name this system knows (os.constants.errno)', e)
    return { kind: 'errno', errno: n }
  }
  if (typeof e === 'number') return { kind: 'errno', errno: c.integer(e, `${name}.errno`, 1, 4095) }
  throw c.typeError(`${name}.errno`, 'of type string or number', e)
}

function u64(value: unknown, name: string, c: Checks): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw c.rangeError(name, 'a safe integer (use a bigint beyond 2 ** 53)', value)
    value = BigInt(value)
  }
  if (typeof value !== 'bigint') throw c.typeError(name, 'of type number or bigint', value)
  if (value < -(1n << 63n) || value >= U64) throw c.rangeError(name, '>= -(2n ** 63n) && < 2n ** 64n', value)
  return (value < 0n ? value + U64 : value).toString()
}

/** A policy checked and shaped for the native compiler. */
export function policySlot(policy: unknown, name: string, c: Checks): native.SeccompPolicySlot {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) throw c.typeError(name, 'a seccomp policy { defaultAction, rules }', policy)
  const p = policy as Record<string, unknown>
  const defaultAction = actionSlot(p.defaultAction, `${name}.defaultAction`, c)
  if (!Array.isArray(p.rules)) throw c.typeError(`${name}.rules`, 'an array', p.rules)
  const rules = p.rules.map((rule: unknown, r: number): native.SeccompRuleSlot => {
    const at = `${name}.rules[${r}]`
    if (typeof rule !== 'object' || rule === null) throw c.typeError(at, 'an object { syscalls, action, args? }', rule)
    const ru = rule as Record<string, unknown>
    if (!Array.isArray(ru.syscalls)) throw c.typeError(`${at}.syscalls`, 'an array of syscall names', ru.syscalls)
    if (ru.syscalls.length === 0) throw c.valueError(`${at}.syscalls`, 'must name at least one syscall', ru.syscalls)
    const syscalls = ru.syscalls.map((s: unknown, i: number) => c.string(s, `${at}.syscalls[${i}]`))
    const action = actionSlot(ru.action, `${at}.action`, c)
    const args = ru.args === undefined ? [] : ru.args
    if (!Array.isArray(args)) throw c.typeError(`${at}.args`, 'an array', args)
    if (args.length > 6) throw c.rangeError(`${at}.args.length`, '<= 6 (a syscall has six arguments)', args.length)
    return {
      syscalls,
      action,
      args: args.map((a: unknown, i: number): native.SeccompArgSlot => {
        const aat = `${at}.args[${i}]`
        if (typeof a !== 'object' || a === null) throw c.typeError(aat, 'an object { index, op, value, mask? }', a)
        const ar = a as Record<string, unknown>
        const index = c.integer(ar.index, `${aat}.index`, 0, 5)
        if (typeof ar.op !== 'string' || !(OPS as readonly string[]).includes(ar.op))
          throw c.valueError(`${aat}.op`, `must be one of ${OPS.map((o) => `'${o}'`).join(', ')}`, ar.op)
        if (ar.op === '&==' && ar.mask === undefined) throw c.valueError(`${aat}.mask`, "is required with op '&=='", ar.mask)
        if (ar.op !== '&==' && ar.mask !== undefined) throw c.valueError(`${aat}.mask`, "goes only with op '&=='", ar.mask)
        return {
          index,
          op: ar.op,
          value: u64(ar.value, `${aat}.value`, c),
          mask: ar.mask === undefined ? undefined : u64(ar.mask, `${aat}.mask`, c),
        }
      }),
    }
  })
  return { defaultAction, rules }
}

/** Whether `value` looks like a policy rather than a BPF program or an fd. */
export function isPolicy(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && ('defaultAction' in value || 'rules' in value)
}

const EPERM = { errno: 'EPERM' } as const
const preset = (p: SeccompPolicy): SeccompPolicy => Object.freeze(p)
const AF_UNIX = 1
const TIOCSTI = 0x5412
const TIOCLINUX = 0x541c
/** Every CLONE_NEW* flag clone(2) takes (NEWTIME is clone3-only). */
const CLONE_NEW = 0x10000000 | 0x20000 | 0x20000000 | 0x40000000 | 0x4000000 | 0x8000000 | 0x2000000

/**
 * Policies sandbox libraries need, each allowing everything but what it names, which fails with
 * EPERM. Combine them by concatenating their rules (the default action is 'allow' in each).
 */
export const seccompPresets: {
  /** socket(AF_UNIX, ...) refused, so no unix socket outside can be reached (connect needs a
   * socket); AF_INET, AF_INET6 and socketpair(2) (a connected pair, which reaches nothing
   * outside, and which Node's own child_process uses) work. What the npm sandboxes ship as
   * prebuilt BPF blobs. */
  readonly noUnixSockets: SeccompPolicy
  /** ptrace, process_vm_readv and process_vm_writev refused: no reading or changing another
   * process's memory. */
  readonly noPtrace: SeccompPolicy
  /** A container-default style deny list: no mounts (mount, umount2, pivot_root, the new mount
   * API), no new or joined namespaces (unshare, setns, clone with a CLONE_NEW* flag; clone3,
   * whose flags a filter cannot read, fails with ENOSYS so that C libraries fall back to clone),
   * no keyrings (keyctl, add_key, request_key), no bpf. */
  readonly noNamespaces: SeccompPolicy
  /** ioctl(TIOCSTI) and ioctl(TIOCLINUX) refused: a program cannot push input into a terminal it
   * has (the command request is compared on its low 32 bits, as the kernel reads it). */
  readonly noTiocsti: SeccompPolicy
} = Object.freeze({
  noUnixSockets: preset({
    defaultAction: 'allow',
    rules: [{ syscalls: ['socket'], action: EPERM, args: [{ index: 0, op: '==', value: AF_UNIX }] }],
  }),
  noPtrace: preset({
    defaultAction: 'allow',
    rules: [{ syscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev'], action: EPERM }],
  }),
  noNamespaces: preset({
    defaultAction: 'allow',
    rules: [
      {
        syscalls: ['mount', 'umount2', 'pivot_root', 'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
          'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'bpf'],
        action: EPERM,
      },
      // No CLONE_NEW* bit: allowed; any other clone: refused (the first matching rule decides).
      { syscalls: ['clone'], action: 'allow', args: [{ index: 0, op: '&==', mask: CLONE_NEW, value: 0 }] },
      { syscalls: ['clone'], action: EPERM },
      { syscalls: ['clone3'], action: { errno: 'ENOSYS' } },
    ],
  }),
  noTiocsti: preset({
    defaultAction: 'allow',
    rules: [{ syscalls: ['ioctl'], action: EPERM, args: [{ index: 1, op: '&==', mask: 0xffffffff, value: TIOCSTI }] },
      { syscalls: ['ioctl'], action: EPERM, args: [{ index: 1, op: '&==', mask: 0xffffffff, value: TIOCLINUX }] }],
  }),
})
