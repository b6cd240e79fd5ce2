// blockFd, usernsBlockFd and syncFd: bwrap's --block-fd, --userns-block-fd and --sync-fd. The
// order of events is observed (the program has not exec'd while it waits: /proc/PID/exe is
// still this node), never timed; bwrap itself is the oracle where it takes the same line.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import net from 'node:net'
import { once } from 'node:events'
import { execFileSync, spawn as cpSpawn, spawnSync as cpSpawnSync } from 'node:child_process'
import * as lc from '../dist/index.js'
import { asRoot, ok, runIsolated } from './_helpers.js'

const root = asRoot('the test writes another user namespace\'s maps and runs bwrap as root')
const bwrapVersion = cpSpawnSync('bwrap', ['--version'], { encoding: 'utf8' }).stdout?.trim()
const env = { PATH: '/usr/bin:/bin' }
const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants
/** An fd no process has open. */
const CLOSED = 1_000_000

function tmpdir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bwrap-fds-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Both ends of a FIFO in `dir`: the read end non-blocking (it opens without a writer).
 * `closeWrite()` closes the write end; the teardown closes what is still open (never a number
 * closed already, which another test may have been given since). */
function fifo(t: ExecutionContext, dir: string, name = 'fifo'): { read: number; write: number; closeWrite: () => void } {
  const p = path.join(dir, name)
  execFileSync('mkfifo', [p])
  const read = fs.openSync(p, O_RDONLY | O_NONBLOCK)
  const write = fs.openSync(p, O_WRONLY)
  let writeOpen = true
  const closeWrite = () => {
    if (writeOpen) fs.closeSync(write)
    writeOpen = false
  }
  t.teardown(() => {
    fs.closeSync(read)
    closeWrite()
  })
  return { read, write, closeWrite }
}

function collect(child: lc.SpawnedProcess): Promise<{ out: string; exit: lc.SpawnExit }> {
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', () => child.exited.then((exit) => resolve({ out, exit }), reject))
  })
}

/** Whether the child `pid` is still this node (not yet exec'd). */
const notExeced = (pid: number): boolean => fs.readlinkSync(`/proc/${pid}/exe`) === fs.realpathSync(process.execPath)

test('blockFd: spawn() returns while the sandbox waits; the program starts only after the byte', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir)
  const marker = path.join(dir, 'marker')
  const child = lc.spawn('/bin/cat', [marker], {
    env,
    blockFd: block.read,
    namespaces: ['user', 'mnt', 'pid', 'net'],
    uidMap: 'root',
    gidMap: 'root',
    mounts: [{ type: 'tmpfs', target: '/mnt' }],
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const done = collect(child)
  t.true(notExeced(child.pid!), 'the program has not started before the byte')
  // Written after spawn() returned: a program started early would not find it.
  fs.writeFileSync(marker, 'written after spawn() returned\n')
  fs.writeSync(block.write, 'x')
  const { out, exit } = await done
  t.is(exit.exitCode, 0)
  t.is(out, 'written after spawn() returned\n')
})

test('blockFd: EOF (every write end closed, this process\'s too) also releases it, as in bwrap', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir)
  const marker = path.join(dir, 'marker')
  const child = lc.spawn('/bin/cat', [marker], { env, blockFd: block.read, stdio: ['ignore', 'pipe', 'pipe'] })
  const done = collect(child)
  t.true(notExeced(child.pid!))
  fs.writeFileSync(marker, 'released by EOF\n')
  block.closeWrite()
  const { out, exit } = await done
  t.is(exit.exitCode, 0)
  t.is(out, 'released by EOF\n')
})

test('blockFd and syncFd: the program sees neither fd', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir, 'block')
  const sync = fifo(t, dir, 'sync')
  const child = lc.spawn('/bin/sh', ['-c', 'ls -l /proc/self/fd/'], {
    env,
    blockFd: block.read,
    syncFd: sync.write,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const done = collect(child)
  fs.writeSync(block.write, 'x')
  const { out, exit } = await done
  t.is(exit.exitCode, 0)
  t.true(out.includes('pipe:') || out.includes('socket:'), out) // stdout is there
  t.false(out.includes(dir), out)
})

test('blockFd: one byte is consumed, the rest left in the pipe (bwrap as the oracle)', (t) => {
  const dir = tmpdir(t)
  const left = (fd: number): string => {
    const buf = Buffer.alloc(16)
    return buf.subarray(0, fs.readSync(fd, buf)).toString()
  }
  const ours = fifo(t, dir, 'ours')
  fs.writeSync(ours.write, 'abc')
  const r = lc.spawnSync('/bin/true', [], { env, blockFd: ours.read })
  t.is(r.error, undefined)
  t.is(r.status, 0)
  t.is(left(ours.read), 'bc')
  if (!bwrapVersion) {
    t.log('bwrap is not installed: the comparison with it is skipped')
    return
  }
  const theirs = fifo(t, dir, 'theirs')
  fs.writeSync(theirs.write, 'abc')
  const b = cpSpawnSync('bwrap', ['--dev-bind', '/', '/', '--block-fd', '3', '/bin/true'], { env, stdio: ['ignore', 'pipe', 'pipe', theirs.read], encoding: 'utf8' })
  t.is(b.status, 0, b.stderr)
  t.is(left(theirs.read), 'bc')
})

root('blockFd: bwrap --block-fd runs the program after the byte, as spawn() does', async (t) => {
  if (!bwrapVersion) {
    t.log('bwrap is not installed: the comparison with it is skipped')
    return t.pass()
  }
  const dir = tmpdir(t)
  const marker = path.join(dir, 'marker')
  const b = cpSpawn('bwrap', ['--dev-bind', '/', '/', '--unshare-pid', '--block-fd', '3', '/bin/cat', marker], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })
  let out = ''
  b.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const closed = new Promise<number | null>((resolve) => b.on('close', resolve))
  fs.writeFileSync(marker, 'written before the byte\n')
  ;(b.stdio[3] as NodeJS.WritableStream).write('x')
  t.is(await closed, 0)
  t.is(out, 'written before the byte\n')
})

test('blockFd with forwards: the forwarded port is served once the program is released', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir)
  const server = net.createServer((s) => s.end('hello from this side\n')).listen(0, '127.0.0.1')
  t.teardown(() => server.close())
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  const child = lc.spawn('/bin/bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/3128; cat <&3'], {
    env,
    blockFd: block.read,
    namespaces: ['user', 'net'],
    uidMap: 'root',
    gidMap: 'root',
    forwards: [{ port: 3128, target: { port } }],
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const done = collect(child)
  t.is(child.forwards.length, 1)
  t.true(notExeced(child.pid!))
  fs.writeSync(block.write, 'x')
  const { out, exit } = await done
  t.is(exit.exitCode, 0)
  t.is(out, 'hello from this side\n')
})

test('blockFd: kill() ends a child that waits; the program never runs', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir)
  const marker = path.join(dir, 'marker')
  const child = lc.spawn('/bin/sh', ['-c', `echo ran > ${marker}`], { env, blockFd: block.read, stdio: 'ignore' })
  t.true(notExeced(child.pid!))
  t.true(child.kill())
  const exit = await child.exited
  t.is(exit.signal, 'SIGTERM')
  // Released after its death: nothing is left to run.
  fs.writeSync(block.write, 'x')
  t.false(fs.existsSync(marker))
})

test('blockFd: a failure after the wait is an error once the child has exited (status 127)', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir)
  const child = lc.spawn('/no/such/program', [], { env, blockFd: block.read, stdio: 'ignore' })
  const events: string[] = []
  child.on('spawn', () => events.push('spawn'))
  const error = new Promise<unknown>((resolve) => child.on('error', (e) => (events.push('error'), resolve(e))))
  child.on('exit', (code) => events.push(`exit ${code}`))
  const closed = new Promise((resolve) => child.once('close', resolve))
  t.true(notExeced(child.pid!))
  fs.writeSync(block.write, 'x')
  const e = await error
  t.true(e instanceof lc.SpawnError)
  t.like(e, { code: 'ENOENT', errno: -2, syscall: 'execve', step: 'execve', path: '/no/such/program' })
  t.is((e as Error).message, `ENOENT: execve("/no/such/program") failed at spawn step 'execve': /no/such/program does not exist (in the child's mount namespace)`)
  await t.throwsAsync(child.exited, { is: e as Error })
  await closed
  t.deepEqual(events, ['spawn', 'error', 'exit 127'])
  t.is(child.exitCode, 127)

  // spawnSync: the same, as `error`.
  fs.writeSync(block.write, 'x')
  const r = lc.spawnSync('/no/such/program', [], { env, blockFd: block.read, stdio: 'ignore' })
  t.is(r.status, 127, String(r.error))
  t.like(r.error, { code: 'ENOENT', errno: -2, syscall: 'execve', step: 'execve' })
})

test('usernsBlockFd: a step failing after the wait names its cause (chdir)', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir)
  const child = lc.spawn('/bin/true', [], { env, namespaces: ['user', 'mnt'], usernsBlockFd: block.read, cwd: '/no/such/dir', stdio: 'ignore' })
  const error = new Promise<unknown>((resolve) => child.once('error', resolve))
  const pid = child.pid!
  fs.writeFileSync(`/proc/${pid}/uid_map`, `0 ${process.getuid!()} 1`)
  fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny')
  fs.writeFileSync(`/proc/${pid}/gid_map`, `0 ${process.getgid!()} 1`)
  fs.writeSync(block.write, 'x')
  const e = await error
  t.like(e, { code: 'ENOENT', errno: -2, syscall: 'chdir', step: 'chdir', path: '/no/such/dir' })
  t.true((e as Error).message.includes('the working directory /no/such/dir does not exist'), (e as Error).message)
})

async function syncFdHeld(t: ExecutionContext, extra: lc.SpawnOptions): Promise<void> {
  const dir = tmpdir(t)
  const sync = fifo(t, dir)
  // The program runs until its stdin ends.
  const child = lc.spawn('/bin/sh', ['-c', 'read line; echo "$line"'], { env, syncFd: sync.write, stdio: ['pipe', 'pipe', 'pipe'], ...extra })
  sync.closeWrite()
  const done = collect(child)
  const buf = Buffer.alloc(16)
  // Still open while the program runs: no data, no EOF.
  t.like(t.throws(() => fs.readSync(sync.read, buf)), { code: 'EAGAIN' })
  child.stdin!.end('running\n')
  const { out, exit } = await done
  t.is(out, 'running\n')
  t.is(exit.exitCode, 0)
  // Ended and reaped: EOF.
  t.is(fs.readSync(sync.read, buf), 0)
}

test('syncFd: the other end sees EOF once the program ended, not before', (t) => syncFdHeld(t, {}))

test('syncFd: with an init as pid 1, EOF once the sandbox ended', (t) =>
  syncFdHeld(t, { namespaces: ['user', 'pid', 'mnt'], uidMap: 'root', gidMap: 'root', pidns: { init: 'reaper' } }))

root('syncFd: bwrap --sync-fd likewise closes it when the sandbox ended', async (t) => {
  if (!bwrapVersion) {
    t.log('bwrap is not installed: the comparison with it is skipped')
    return t.pass()
  }
  const dir = tmpdir(t)
  const sync = fifo(t, dir)
  const b = cpSpawn('bwrap', ['--dev-bind', '/', '/', '--sync-fd', '3', '/bin/sh', '-c', 'read line; echo "$line"'], { env, stdio: ['pipe', 'pipe', 'pipe', sync.write] })
  sync.closeWrite()
  let out = ''
  b.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const closed = new Promise<number | null>((resolve) => b.on('close', resolve))
  // bwrap holds it from its start until the sandbox ended.
  t.like(t.throws(() => fs.readSync(sync.read, Buffer.alloc(16))), { code: 'EAGAIN' })
  b.stdin!.end('running\n')
  t.is(await closed, 0)
  t.is(out, 'running\n')
  t.is(fs.readSync(sync.read, Buffer.alloc(16)), 0)
})

const unprivilegedBody = `
  const dir = fs.mkdtempSync('/tmp/bwrap-fds-user-')
  const open = (name) => {
    execFileSync('mkfifo', [dir + '/' + name])
    const read = fs.openSync(dir + '/' + name, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
    return { read, write: fs.openSync(dir + '/' + name, fs.constants.O_WRONLY) }
  }
  const block = open('block'), sync = open('sync')
  const child = lc.spawn('/bin/sh', ['-c', 'cat ' + dir + '/marker; id -u; ls -l /proc/self/fd/'], {
    env: { PATH: '/usr/bin:/bin' }, namespaces: ['user', 'mnt', 'pid', 'net'], uidMap: 'root', gidMap: 'root',
    mounts: [{ type: 'tmpfs', target: '/mnt' }], blockFd: block.read, syncFd: sync.write, stdio: ['ignore', 'pipe', 'pipe'] })
  fs.closeSync(sync.write)
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const closed = new Promise((resolve) => child.on('close', resolve))
  const waiting = fs.readlinkSync('/proc/' + child.pid + '/exe') === fs.realpathSync(process.execPath)
  let syncWhileWaiting
  try { syncWhileWaiting = fs.readSync(sync.read, Buffer.alloc(8)) } catch (e) { syncWhileWaiting = e.code }
  fs.writeFileSync(dir + '/marker', 'after spawn() returned\\n')
  fs.closeSync(block.write)
  const exit = await child.exited
  await closed
  const syncAfter = fs.readSync(sync.read, Buffer.alloc(8))
  fs.rmSync(dir, { recursive: true })
  report({ waiting, syncWhileWaiting, syncAfter, exit: exit.exitCode, out, dir })
`

for (const uid of [undefined, 4242]) {
  test(`blockFd and syncFd in a user namespace of one's own, EOF releasing it (${uid === undefined ? 'root' : `uid ${uid}`})`, async (t) => {
    const r = await runIsolated(unprivilegedBody, { uid })
    const res = ok(t, r) as { waiting: boolean; syncWhileWaiting: unknown; syncAfter: number; exit: number; out: string; dir: string }
    t.true(res.waiting)
    t.is(res.syncWhileWaiting, 'EAGAIN')
    t.is(res.exit, 0)
    t.true(res.out.startsWith('after spawn() returned\n0\n'), res.out)
    t.false(res.out.includes(res.dir), res.out)
    t.is(res.syncAfter, 0)
  })
}

const usernsBody = `
  const dir = fs.mkdtempSync('/tmp/bwrap-fds-userns-')
  const p = dir + '/fifo'
  execFileSync('mkfifo', [p])
  const read = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const write = fs.openSync(p, fs.constants.O_WRONLY)
  const child = lc.spawn('/bin/sh', ['-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map'], {
    env: { PATH: '/usr/bin:/bin' }, namespaces: ['user'], usernsBlockFd: read, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const closed = new Promise((resolve) => child.on('close', resolve))
  // Waiting in its user namespace, nothing mapped yet; the maps are ours to write.
  const before = fs.readFileSync('/proc/' + child.pid + '/uid_map', 'utf8')
  const uid = process.getuid(), gid = process.getgid()
  fs.writeFileSync('/proc/' + child.pid + '/uid_map', '0 ' + uid + ' 1')
  fs.writeFileSync('/proc/' + child.pid + '/setgroups', 'deny')
  fs.writeFileSync('/proc/' + child.pid + '/gid_map', '0 ' + gid + ' 1')
  fs.writeSync(write, 'x')
  const exit = await child.exited
  await closed
  fs.rmSync(dir, { recursive: true })
  report({ before, exit: exit.exitCode, lines: out.split('\\n').map((l) => l.trim().split(/\\s+/).join(' ')), uid, gid })
`

for (const uid of [undefined, 4242]) {
  test(`usernsBlockFd: the caller writes the maps from outside while the child waits (${uid === undefined ? 'root' : `uid ${uid}`})`, async (t) => {
    const r = await runIsolated(usernsBody, { uid })
    const res = ok(t, r) as { before: string; exit: number; lines: string[]; uid: number; gid: number }
    t.is(res.before, '')
    t.is(res.exit, 0)
    t.deepEqual(res.lines.slice(0, 4), ['0', '0', `0 ${res.uid} 1`, `0 ${res.gid} 1`])
  })
}

root('usernsBlockFd: bwrap --userns-block-fd with --info-fd sees the same maps', async (t) => {
  if (!bwrapVersion) {
    t.log('bwrap is not installed: the comparison with it is skipped')
    return t.pass()
  }
  const script = 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map'
  const b = cpSpawn('bwrap', ['--dev-bind', '/', '/', '--unshare-user', '--info-fd', '3', '--userns-block-fd', '4', '/bin/sh', '-c', script], {
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  b.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  b.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const closed = new Promise<number | null>((resolve) => b.on('close', resolve))
  let info = ''
  const info3 = b.stdio[3] as NodeJS.ReadableStream
  info3.setEncoding('utf8')
  await new Promise((resolve) => info3.on('data', (d: string) => (info += d)).on('end', resolve))
  const pid = (JSON.parse(info) as { 'child-pid': number })['child-pid']
  fs.writeFileSync(`/proc/${pid}/uid_map`, '0 0 1')
  fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny')
  fs.writeFileSync(`/proc/${pid}/gid_map`, '0 0 1')
  ;(b.stdio[4] as NodeJS.WritableStream).end('x')
  t.is(await closed, 0, err)
  const lines = (s: string) => s.split('\n').map((l) => l.trim().split(/\s+/).join(' '))
  t.deepEqual(lines(out).slice(0, 4), ['0', '0', '0 0 1', '0 0 1'])
})

root('blockFd in a sandbox run: the run waits for the byte too', async (t) => {
  const dir = tmpdir(t)
  const block = fifo(t, dir)
  await using sb = lc.createSandbox({ namespaces: ['user', 'mnt', 'pid'] })
  const marker = path.join(dir, 'marker')
  const child = sb.spawn('/bin/sh', ['-c', `cat ${marker} 2>&1 || echo missing`], { env, blockFd: block.read, stdio: ['ignore', 'pipe', 'pipe'] })
  const done = collect(child)
  t.true(notExeced(child.pid!))
  fs.writeFileSync(marker, 'written after sandbox.spawn() returned\n')
  fs.writeSync(block.write, 'x')
  const { out, exit } = await done
  t.is(exit.exitCode, 0)
  t.is(out, 'written after sandbox.spawn() returned\n')
})

test('fromBwrap(): --block-fd, --sync-fd and --userns-block-fd map to the options, with bwrap\'s checks', (t) => {
  const a = lc.fromBwrap(['--ro-bind', '/', '/', '--block-fd', '5', '--sync-fd', '6', 'true'])
  t.is(a.options.blockFd, 5)
  t.is(a.options.syncFd, 6)
  const b = lc.fromBwrap(['--unshare-user', '--uid', '0', '--info-fd', '3', '--userns-block-fd', '4', 'true'])
  t.is(b.options.usernsBlockFd, 4)
  t.is(b.options.uidMap, undefined)
  t.is(b.options.gidMap, undefined)
  t.is(b.options.uid, 0)
  t.like(t.throws(() => lc.fromBwrap(['--userns-block-fd', '4', '--info-fd', '3', 'true'])), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: "bwrap's --userns-block-fd needs --unshare-user",
  })
  t.like(t.throws(() => lc.fromBwrap(['--unshare-user', '--userns-block-fd', '4', 'true'])), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: "bwrap's --userns-block-fd needs --info-fd",
  })
  for (const option of ['--block-fd', '--sync-fd', '--userns-block-fd'])
    t.like(t.throws(() => lc.fromBwrap([option, 'x', 'true'])), { code: 'ERR_INVALID_ARG_VALUE', message: `bwrap's ${option} needs an fd number, not "x"` })
})

test('blockFd, usernsBlockFd, syncFd: wrong types and values are refused by name', (t) => {
  for (const name of ['blockFd', 'usernsBlockFd', 'syncFd'] as const) {
    t.like(t.throws(() => lc.spawn('true', { [name]: 'x' })), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: `The "options.${name}" property must be an fd or an object with an fd. Received type string ('x')`,
    })
    const e = t.throws(() => lc.spawnSync('true', { [name]: -1 }))
    t.like(e, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
    t.true(e!.message.includes(`"options.${name}"`), e!.message)
  }
  t.like(t.throws(() => lc.spawn('true', { usernsBlockFd: 0 })), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: "The property 'options.usernsBlockFd' waits in a new user namespace: add 'user' to namespaces. Received 0",
  })
  t.like(t.throws(() => lc.spawn('true', { namespaces: ['user'], uidMap: 'root', usernsBlockFd: 0 })), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: "The property 'options.usernsBlockFd' is for id maps written from outside: leave uidMap, gidMap and setgroups out. Received 0",
  })
  for (const extra of [{ terminal: true }, { join: { net: '/proc/self/ns/net' } }, { namespaces: ['user', 'net'], forwards: [{ port: 8080, target: { port: 8080 } }] }] as lc.SpawnOptions[]) {
    const e = t.throws(() => lc.spawn('true', { namespaces: ['user'], ...extra, usernsBlockFd: 0 }))
    t.like(e, { code: 'ERR_INVALID_ARG_VALUE' })
    t.true(e!.message.startsWith("The property 'options.usernsBlockFd' cannot be used with options."), e!.message)
  }
})

test('blockFd, usernsBlockFd, syncFd: a closed fd is EBADF at the step that would use it', async (t) => {
  const cases = [
    ['blockFd', 'block-fd', {}],
    ['usernsBlockFd', 'sync', { namespaces: ['user'] }],
    ['syncFd', 'fds', {}],
  ] as const
  for (const [name, step, extra] of cases) {
    const r = lc.spawnSync('true', [], { ...extra, [name]: CLOSED })
    t.true(r.error instanceof lc.SpawnError, name)
    t.like(r.error, { code: 'EBADF', errno: -9, syscall: 'fcntl', step })
    t.is(r.error!.message, `EBADF: fcntl(options.${name}: fd ${CLOSED}) failed at spawn step '${step}': fd ${CLOSED} given as options.${name} is not open`)
    const child = lc.spawn('true', [], { ...extra, [name]: CLOSED })
    const e = await new Promise<unknown>((resolve) => child.once('error', resolve))
    t.like(e, { code: 'EBADF', errno: -9, syscall: 'fcntl', step })
  }
})
