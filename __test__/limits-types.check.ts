// Type-level tests of limits and the run report, checked by `tsc --noEmit -p .`.
import { spawn, spawnSync, probe, type ExitReason, type Limits, type SpawnExit, type Usage } from '../dist/index.js'

export async function typed(): Promise<void> {
  const limits: Limits = { memory: 1 << 26, memorySwap: 0, memoryHigh: 1 << 25, pids: 10, cpu: { quota: 0.2 }, cpuWeight: 50, ioWeight: 50 }
  const exit: SpawnExit = await spawn('true', [], { limits, cgroupParent: '/sys/fs/cgroup/runs' }).exited
  const reason: ExitReason = exit.reason
  const wall: number = exit.usage.wallTime
  const peak: number | undefined = exit.usage.memoryPeak
  const r = spawnSync('true', { limits: { cpu: { quota: { max: 20000, period: 100000 } } } })
  const usage: Usage | undefined = r.usage
  const ok: boolean = probe().limits.ok
  void [reason, wall, peak, usage, ok]
  // @ts-expect-error not a reason
  const bad: ExitReason = 'crashed'
  // @ts-expect-error a quota is a fraction or { max, period }
  spawnSync('true', { limits: { cpu: { quota: '20%' } } })
  // @ts-expect-error usage has exactly its names
  void exit.usage.maxRSS
  void bad
}
