// seccomp filters for the tests, made by the package's own policy compiler (compileSeccomp),
// plus the one program no compiler makes: an invalid one, for the kernel's checker to refuse.
import { compileSeccomp, type SeccompArch } from '../dist/index.js'

export type Arch = SeccompArch

export function arch(): Arch {
  if (process.arch === 'x64' || process.arch === 'arm64') return process.arch
  throw new Error(`no seccomp table for ${process.arch}`)
}

/** A filter that makes `calls` fail with `errno` and allows everything else. */
export function deny(calls: readonly string[], errno: number, on: Arch = arch()): Buffer {
  return Buffer.from(compileSeccomp({ defaultAction: 'allow', rules: [{ syscalls: calls, action: { errno } }] }, on))
}

/** A filter that allows everything. */
export function allowAll(): Buffer {
  return Buffer.from(compileSeccomp({ defaultAction: 'allow', rules: [] }))
}

/** A program the kernel's checker refuses: one `ld [0]` (BPF_LD|BPF_W|BPF_ABS), which does
 * not end in a return. */
export function invalid(): Buffer {
  return Buffer.from([0x20, 0, 0, 0, 0, 0, 0, 0])
}
