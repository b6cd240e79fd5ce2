// Classic BPF seccomp filters for the tests, for x86_64 and aarch64: a program is a Buffer of
// 8-byte `struct sock_filter` { u16 code; u8 jt; u8 jf; u32 k }, little-endian.

export type Arch = 'x64' | 'arm64'

/** AUDIT_ARCH_* as seccomp_data.arch reports it. */
const AUDIT_ARCH: Readonly<Record<Arch, number>> = { x64: 0xc000003e, arm64: 0xc00000b7 }

/** System call numbers; null where the architecture has no such call (aarch64 has only *at). */
const SYSCALLS = {
  mkdir: { x64: 83, arm64: null },
  mkdirat: { x64: 258, arm64: 34 },
  socket: { x64: 41, arm64: 198 },
} as const satisfies Record<string, Readonly<Record<Arch, number | null>>>

export type Syscall = keyof typeof SYSCALLS

// Opcodes (linux/bpf_common.h) and return values (linux/seccomp.h).
const LD_W_ABS = 0x20
const JEQ_K = 0x15
const JGE_K = 0x35
const RET_K = 0x06
const RET_KILL_PROCESS = 0x80000000
const RET_ERRNO = 0x00050000
const RET_ALLOW = 0x7fff0000
/** seccomp_data: nr at 0, arch at 4. */
const NR = 0
const ARCH = 4
/** x32 system calls on x86_64 have this bit set: a filter must not let them through. */
const X32_BIT = 0x40000000

interface Insn {
  code: number
  jt?: number
  jf?: number
  k: number
}

export function arch(): Arch {
  if (process.arch === 'x64' || process.arch === 'arm64') return process.arch
  throw new Error(`no seccomp table for ${process.arch}`)
}

/** The instructions as the kernel reads them. */
export function assemble(program: readonly Insn[]): Buffer {
  const out = Buffer.alloc(program.length * 8)
  program.forEach((insn, i) => {
    out.writeUInt16LE(insn.code, i * 8)
    out.writeUInt8(insn.jt ?? 0, i * 8 + 2)
    out.writeUInt8(insn.jf ?? 0, i * 8 + 3)
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4)
  })
  return out
}

/**
 * A filter that makes `calls` fail with `errno` and allows everything else; a system call of
 * another architecture (or x32) kills the process.
 */
export function deny(calls: readonly Syscall[], errno: number, on: Arch = arch()): Buffer {
  const numbers = calls.flatMap((c): number[] => {
    const nr: number | null = SYSCALLS[c][on]
    return nr === null ? [] : [nr]
  })
  const head: Insn[] = [
    { code: LD_W_ABS, k: ARCH },
    { code: JEQ_K, k: AUDIT_ARCH[on], jt: 1, jf: 0 },
    { code: RET_K, k: RET_KILL_PROCESS },
    { code: LD_W_ABS, k: NR },
  ]
  // Over the matches, the allow and the errno return, to the kill at the end.
  if (on === 'x64') head.push({ code: JGE_K, k: X32_BIT, jt: numbers.length + 2, jf: 0 })
  // Each match jumps over the rest of the matches and the allow, to the errno return.
  const matches: Insn[] = numbers.map((nr, j) => ({ code: JEQ_K, k: nr, jt: numbers.length - j, jf: 0 }))
  const kill: Insn[] = on === 'x64' ? [{ code: RET_K, k: RET_KILL_PROCESS }] : []
  return assemble([
    ...head,
    ...matches,
    { code: RET_K, k: RET_ALLOW },
    { code: RET_K, k: RET_ERRNO | (errno & 0xffff) },
    ...kill,
  ])
}

/** A filter that allows everything. */
export function allowAll(): Buffer {
  return assemble([{ code: RET_K, k: RET_ALLOW }])
}

/** A program the kernel's checker refuses: its last instruction is not a return. */
export function invalid(): Buffer {
  return assemble([{ code: LD_W_ABS, k: NR }])
}

/** The calls a program needs to start and to end, for filters that allow only some of them. */
const LIFECYCLE = {
  execve: { x64: 59, arm64: 221 },
  write: { x64: 1, arm64: 64 },
  exit: { x64: 60, arm64: 93 },
  exit_group: { x64: 231, arm64: 94 },
} as const satisfies Record<string, Readonly<Record<Arch, number>>>

export type LifecycleCall = keyof typeof LIFECYCLE

/**
 * A deny-by-default filter: `calls` are allowed, every other call fails with `errno` (x32 calls
 * too); a call of another architecture kills the process.
 */
export function allowOnly(calls: readonly LifecycleCall[], errno: number, on: Arch = arch()): Buffer {
  const numbers = calls.map((c) => LIFECYCLE[c][on])
  const head: Insn[] = [
    { code: LD_W_ABS, k: ARCH },
    { code: JEQ_K, k: AUDIT_ARCH[on], jt: 1, jf: 0 },
    { code: RET_K, k: RET_KILL_PROCESS },
    { code: LD_W_ABS, k: NR },
  ]
  // x32 calls jump over the matches to the errno return.
  if (on === 'x64') head.push({ code: JGE_K, k: X32_BIT, jt: numbers.length, jf: 0 })
  // Each match jumps over the rest of the matches and the errno return, to the allow.
  const matches: Insn[] = numbers.map((nr, j) => ({ code: JEQ_K, k: nr, jt: numbers.length - j, jf: 0 }))
  return assemble([...head, ...matches, { code: RET_K, k: RET_ERRNO | (errno & 0xffff) }, { code: RET_K, k: RET_ALLOW }])
}
