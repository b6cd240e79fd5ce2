// An interactive shell in a sandbox, on a terminal of its own connected to yours: new user, pid,
// net, ipc and uts namespaces (uid 0 inside is you outside), an empty root holding the host's
// /usr read-only, its own /proc, /dev (with a devpts instance holding only its terminal) and
// /tmp. Your terminal is put in raw mode, so that Ctrl-C, Ctrl-Z and line editing reach the
// shell; resizing your window resizes its terminal. `exit` (or Ctrl-D) ends it. Runs as any
// user:
//   node examples/terminal.mjs
// With stdin not a terminal (a pipe, a file), what it holds is typed in, then `exit`.
import { existsSync, lstatSync, readlinkSync } from 'node:fs'
import { probe, spawn } from 'linux-clone'

const support = probe().userNamespaces
if (!support.ok) {
  console.error(`This host does not allow unprivileged user namespaces: ${support.cause}`)
  process.exit(1)
}

// The host's programs: /usr read-only, and /bin, /lib... as this host has them (links or dirs).
const system = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
for (const dir of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
  const st = lstatSync(dir, { throwIfNoEntry: false })
  if (st?.isSymbolicLink()) system.push({ type: 'symlink', target: dir, linkTo: readlinkSync(dir) })
  else if (st?.isDirectory()) system.push({ type: 'bind', source: dir, target: dir, readonly: true })
}

const shell = existsSync('/bin/bash') ? ['/bin/bash', '--norc', '--noprofile', '-i'] : ['/bin/sh', '-i']
const { stdin, stdout } = process
const child = spawn(shell[0], shell.slice(1), {
  terminal: { cols: stdout.columns || 80, rows: stdout.rows || 24, name: process.env.TERM || 'xterm-256color' },
  namespaces: ['user', 'pid', 'net', 'ipc', 'uts'],
  uidMap: 'root',
  gidMap: 'root',
  hostname: 'sandbox',
  rootfs: 'tmpfs',
  mounts: [...system, { type: 'proc' }, { type: 'dev' }, { type: 'tmpfs', target: '/tmp' }],
  cwd: '/tmp',
  env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', PS1: 'sandbox# ' },
  // An init as pid 1, so that the shell's jobs are reaped and Ctrl-C reaches them, not pid 1.
  pidns: { init: 'reaper' },
})
child.on('error', (err) => {
  console.error(err.message)
  process.exitCode = 1
})

const terminal = child.terminal
if (terminal) {
  // Raw: every key goes to the sandbox's terminal as it is typed, which does the line editing
  // and turns Ctrl-C into SIGINT for the shell's foreground job.
  if (stdin.isTTY) stdin.setRawMode(true)
  stdin.pipe(terminal, { end: false })
  // Input that ends (a pipe, a file) ends the shell. (Not Ctrl-D: typed ahead while a command
  // runs, the terminal hands it to the shell as a byte once it reads characters one by one.)
  stdin.on('end', () => terminal.write('\nexit\n'))
  terminal.pipe(stdout)
  const resize = () => child.resize(stdout.columns, stdout.rows)
  stdout.on('resize', resize)
  child.on('close', (code, signal) => {
    stdout.off('resize', resize)
    if (stdin.isTTY) stdin.setRawMode(false)
    stdin.unpipe(terminal)
    stdin.destroy()
    process.exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)
  })
}
