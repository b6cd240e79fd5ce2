// Type-level tests for sandboxes, checked by `tsc --noEmit -p .`: options that build a sandbox
// are not a run's, and the other way round.
import { createSandbox, spawn, type Forward, type SpawnForward, type SandboxEnd, type SpawnSyncResult, type SpawnedProcess } from '../dist/index.js'

export async function typed(): Promise<void> {
  const sb = createSandbox({ namespaces: ['user', 'mnt', 'pid', 'net'], rootfs: 'tmpfs', mounts: [{ type: 'proc' }], defaults: { cwd: '/tmp' } })
  const p: SpawnedProcess = sb.spawn('/bin/true', [], { uid: 0, rlimits: { nofile: { soft: 64 } }, seccomp: { defaultAction: 'allow', rules: [] } })
  const s: SpawnSyncResult<string> = sb.spawnSync('/bin/true', { encoding: 'utf8' })
  const b: SpawnSyncResult<Buffer> = sb.spawnSync('/bin/true', [])
  // @ts-expect-error mounts build the sandbox: not a run's option
  sb.spawn('/bin/true', [], { mounts: [] })
  // @ts-expect-error a run cannot join other namespaces
  sb.spawnSync('/bin/true', { join: { net: 3 } })
  // @ts-expect-error seccomp is a run's option: in defaults, not in the build options
  createSandbox({ seccomp: 'x' })
  const f: Forward = sb.forward({ port: 3128, allow: (peer) => peer.remoteAddress === '127.0.0.1' }, { path: '/run/proxy.sock' })
  await f.close()
  const forwards: SpawnForward[] = [{ port: 3128, target: { host: '127.0.0.1', port: 8080 } }, { port: 53, allow: () => Promise.resolve(true) }]
  const child = spawn('/bin/true', [], { namespaces: ['user', 'net'], forwards })
  const first: Forward | undefined = child.forwards[0]
  // @ts-expect-error forwards is read-only
  child.forwards = []
  // @ts-expect-error a sandbox's ports are forwarded by sandbox.forward(), not per run
  sb.spawn('/bin/true', [], { forwards })
  void first
  const end: SandboxEnd = await sb.close()
  const why: 'close' | 'died' = end.reason
  void [p, s, b, why, sb.namespaces.net?.id, sb.pidfd, sb.pid]
}
