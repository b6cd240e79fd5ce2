// Type-level tests for spawn()'s terminal, checked by `tsc --noEmit -p .` (npm run lint).
import type { Duplex } from 'node:stream'
import { spawn, spawnSync, type TerminalOptions } from '../dist/index.js'

export function accepted(): void {
  const options: TerminalOptions = { cols: 80, rows: 24, name: 'xterm-256color', encoding: 'utf8' }
  const child = spawn('sh', ['-i'], { terminal: options, tiocsti: 'deny', stdio: [null, null, null, 'pipe'] })
  const stream: Duplex | null = child.terminal
  const resized: boolean = child.resize(100, 30)
  const filtered: boolean = child.tiocstiFilter
  spawn('sh', { terminal: true, tiocsti: 'allow' })
  spawnSync('true', [], { terminal: false })
  void [stream, resized, filtered]
}

export function refused(): void {
  // @ts-expect-error sizes are numbers
  spawn('sh', [], { terminal: { cols: '80' } })
  // @ts-expect-error not an option of terminal
  spawn('sh', [], { terminal: { colour: true } })
  // @ts-expect-error 'deny' or 'allow'
  spawn('sh', [], { tiocsti: 'yes' })
}
