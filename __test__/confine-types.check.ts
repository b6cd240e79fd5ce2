// Type-level tests for spawn()'s confinement options, checked by `tsc --noEmit -p .` (npm run
// lint): each mount entry takes only its own fields, capabilities and resources are named.
import { CAPABILITIES, spawnSync, type CapName, type MountEntry } from '../dist/index.js'

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
}
