// Type-level tests for spawn()'s confinement options, checked by `tsc --noEmit -p .` (npm run
// lint): each mount entry takes only its own fields, capabilities and resources are named.
import { CAPABILITIES, compileSeccomp, seccompPresets, spawnSync, type CapName, type MountEntry, type SeccompPolicy } from '../dist/index.js'

export function accepted(fd: number, filter: Uint8Array): void {
  const mounts: MountEntry[] = [
    { type: 'bind', source: '/usr', target: '/usr', readonly: true, recursive: false, devices: false, optional: true },
    { type: 'bind', source: new URL('file:///srv'), target: '/srv' },
    { type: 'tmpfs', target: '/tmp', size: 1 << 20, mode: 0o1777, readonly: false },
    { type: 'proc' },
    { type: 'dev', target: '/dev' },
    { type: 'mqueue', target: '/dev/mqueue' },
    { type: 'dir', target: '/run/x', mode: 0o700 },
    { type: 'symlink', target: '/bin', linkTo: 'usr/bin' },
    { type: 'file', target: '/etc/motd', data: 'hello', mode: 0o444, readonly: true },
    { type: 'file', target: '/etc/blob', data: new Uint8Array(4) },
    { type: 'remount', target: '/', readonly: true },
  ]
  const cap: CapName = CAPABILITIES[12] ?? 'CAP_NET_ADMIN'
  spawnSync('true', [], {
    namespaces: ['user', 'pid'],
    rootfs: 'tmpfs',
    mounts,
    propagation: 'slave',
    capabilities: { keep: [cap, 'CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'], bounding: 'keep' },
    noNewPrivs: true,
    seccomp: filter,
    rlimits: { nofile: { soft: 64, hard: 'unlimited' }, core: { soft: 0 } },
    umask: 0o022,
    pidns: { init: 'reaper' },
  })
  spawnSync('true', [], { seccomp: fd, capabilities: { keep: 'all', bounding: [] } })
  spawnSync('true', [], { seccomp: { fd }, capabilities: { keep: 'none' } })
  const policy: SeccompPolicy = {
    defaultAction: { errno: 'EPERM' },
    rules: [
      { syscalls: ['read', 'write', 'exit_group', 'execve'], action: 'allow' },
      { syscalls: ['ioctl'], action: 'log', args: [{ index: 1, op: '&==', mask: 0xffffffff, value: 0x5412 }] },
      { syscalls: ['kill'], action: { errno: 1 }, args: [{ index: 0, op: '<=', value: -1n }] },
    ],
  }
  const bytes: Uint8Array = compileSeccomp(policy, 'arm64')
  spawnSync('true', [], { seccomp: policy, landlock: { fs: { read: ['/usr', new URL('file:///etc')], write: ['/tmp'], execute: ['/usr'], rights: [{ path: '/dev/null', access: ['write_file', 'truncate'] }] }, net: { connect: [443], bind: [] }, scope: ['signal'], compatibility: 'require' } })
  const result = spawnSync('true', [], { seccomp: seccompPresets.noPtrace, landlock: { scope: ['abstract-unix-socket'] } })
  const dropped: string[] | undefined = result.confinement.landlock?.dropped
  void bytes
  void dropped
}

export function refused(): void {
  // @ts-expect-error a bind needs a source
  spawnSync('true', [], { mounts: [{ type: 'bind', target: '/usr' }] })
  // @ts-expect-error a tmpfs has no source
  spawnSync('true', [], { mounts: [{ type: 'tmpfs', source: '/x', target: '/tmp' }] })
  // @ts-expect-error not a mount type
  spawnSync('true', [], { mounts: [{ type: 'overlay', target: '/x' }] })
  // @ts-expect-error a remount only makes read-only
  spawnSync('true', [], { mounts: [{ type: 'remount', target: '/', readonly: false }] })
  // @ts-expect-error capabilities are named as in capabilities(7)
  spawnSync('true', [], { capabilities: { keep: ['NET_ADMIN'] } })
  // @ts-expect-error not a resource
  spawnSync('true', [], { rlimits: { files: { soft: 1 } } })
  // @ts-expect-error the init is 'program' or 'reaper'
  spawnSync('true', [], { pidns: { init: 'tini' } })
  // @ts-expect-error propagation names
  spawnSync('true', [], { propagation: 'shared' })
  // @ts-expect-error Landlock rights are the kernel's names
  spawnSync('true', [], { landlock: { fs: { rights: [{ path: '/x', access: ['fly'] }] } } })
  // @ts-expect-error scopes are named
  spawnSync('true', [], { landlock: { scope: ['network'] } })
  // @ts-expect-error an action is a name or { errno }
  compileSeccomp({ defaultAction: 'deny', rules: [] })
  // @ts-expect-error only the two architectures
  compileSeccomp(seccompPresets.noTiocsti, 'riscv64')
  // @ts-expect-error comparison operators are listed
  compileSeccomp({ defaultAction: 'allow', rules: [{ syscalls: ['kill'], action: 'allow', args: [{ index: 0, op: '=~', value: 1 }] }] })
}
