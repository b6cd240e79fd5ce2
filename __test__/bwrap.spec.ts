// The same sandbox built by bubblewrap and by spawn(): what a program sees from inside must be
// the same wherever the two tools' options mean the same. Where they differ by design, the
// difference is asserted, with the reason. Each run happens as root and as the unprivileged user
// lc-test (uid 4242), since bwrap (not setuid here) takes other paths in each case.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync as cpSpawnSync } from 'node:child_process'
import { probe, type MountEntry, type SpawnOptions } from '../dist/index.js'
import { isRoot, ok, runIsolated } from './_helpers.js'

const bwrapVersion = cpSpawnSync('bwrap', ['--version'], { encoding: 'utf8' }).stdout?.trim()
const userns = probe().userNamespaces

interface User {
  label: string
  uid?: number
}
const users: User[] = [{ label: isRoot ? 'as root' : `as uid ${process.getuid?.()}` }, { label: 'as uid 4242', uid: 4242 }]

/** `test`, or `test.skip` with the reason printed, for a run as `user`. */
function runner(user: User): typeof test {
  const why = !bwrapVersion
    ? 'bwrap is not installed'
    : !userns.ok
      ? `unprivileged user namespaces are off: ${userns.cause}`
      : user.uid !== undefined && !isRoot
        ? 'running as another user needs root (setpriv)'
        : undefined
  if (why === undefined) return test
  console.log(`skipping the bwrap comparison ${user.label}: ${why}`)
  return test.skip as typeof test
}

/** The top-level links into /usr of a merged-/usr host (/bin -> usr/bin ...), and the real directories of the others. */
function topLevel(): { links: [string, string][]; dirs: string[] } {
  const links: [string, string][] = []
  const dirs: string[] = []
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const at = `/${name}`
    let st: fs.Stats
    try {
      st = fs.lstatSync(at)
    } catch {
      continue
    }
    if (st.isSymbolicLink()) links.push([at, fs.readlinkSync(at)])
    else if (st.isDirectory()) dirs.push(at)
  }
  return { links, dirs }
}

/** The host's /usr, read-only, with its top-level links: both tools' arguments. */
function usr(): { bwrap: string[]; mounts: MountEntry[] } {
  const { links, dirs } = topLevel()
  const bwrap = ['--ro-bind', '/usr', '/usr']
  const mounts: MountEntry[] = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
  for (const [at, to] of links) {
    bwrap.push('--symlink', to, at)
    mounts.push({ type: 'symlink', target: at, linkTo: to })
  }
  for (const d of dirs) {
    bwrap.push('--ro-bind', d, d)
    mounts.push({ type: 'bind', source: d, target: d, readonly: true })
  }
  return { bwrap, mounts }
}

/** A workspace with a secret in it, owned by the user the run is made as. */
function workspace(t: ExecutionContext, uid: number | undefined): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-bwrap-ws-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'TOPSECRET\n')
  if (uid !== undefined) {
    fs.chownSync(dir, uid, uid)
    fs.chownSync(path.join(dir, 'secret.txt'), uid, uid)
  }
  return dir
}

const env = { PATH: '/usr/bin:/bin' }

interface Side {
  status: number | null
  stdout: string
  stderr: string
  error?: { message: string; code?: string; errno?: number; syscall?: string; step?: string; index?: number; path?: string }
}

interface Pair {
  nofile: string
  bwrap: Side
  spawn: Side
}

/**
 * Runs `script` under bwrap with `bwrapArgs` and under spawn() with `options`, in a process of
 * its own as `uid`. `fd3`: a file bwrap gets as fd 3 (for --file and --ro-bind-data).
 */
async function both(t: ExecutionContext, uid: number | undefined, bwrapArgs: string[], options: SpawnOptions, script: string, fd3?: string): Promise<Pair> {
  const args = { bwrap: [...bwrapArgs, '/bin/sh', '-c', script], options: { ...options, env, encoding: 'utf8' }, script, env, fd3 }
  const run = await runIsolated(
    `
    const cp = await import('node:child_process');
    const a = ${JSON.stringify(args)};
    const stdio = ['ignore', 'pipe', 'pipe'];
    if (a.fd3) stdio.push(fs.openSync(a.fd3, 'r'));
    const b = cp.spawnSync('bwrap', a.bwrap, { env: a.env, encoding: 'utf8', stdio });
    const s = lc.spawnSync('/bin/sh', ['-c', a.script], a.options);
    const side = (r) => ({ status: r.status, stdout: r.stdout, stderr: r.stderr,
      error: r.error && { message: r.error.message, code: r.error.code, errno: r.error.errno, syscall: r.error.syscall, step: r.error.step, index: r.error.index, path: r.error.path } });
    report({
      nofile: fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files +(\\d+)/m)[1],
      bwrap: side(b),
      spawn: side(s),
    });
  `,
    { uid },
  )
  return ok(t, run) as Pair
}

/** The output of the observation script, by section. */
function sections(out: string): Record<string, string> {
  const r: Record<string, string> = {}
  let name = ''
  for (const line of out.split('\n')) {
    if (line.startsWith('@@')) {
      name = line.slice(2)
      r[name] = ''
    } else if (name) r[name] += `${line}\n`
  }
  for (const k of Object.keys(r)) r[k] = r[k]!.trim()
  return r
}

/** /proc/self/mountinfo as (mount point, fs type, per-mount options that confine), sorted: ids and sources differ. */
function mounts(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ')
      const fstype = f[f.indexOf('-') + 1]
      const opts = f[5]!.split(',').filter((o) => ['ro', 'rw', 'nosuid', 'nodev', 'noexec'].includes(o))
      return `${f[4]} ${fstype} ${opts.join(',')}`
    })
    .sort()
}

/** `ip -o link` as name, flags and state. */
function links(out: string): string[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^\d+: ([^:@]+)[^:]*: (<[^>]*>).* state (\S+)/.exec(l)
      return m ? `${m[1]} ${m[2]} ${m[3]}` : l
    })
}

const observe = `
o() { echo "@@$1"; }
o root; ls -1 /
o dev; ls -1 /dev
o mountinfo; cat /proc/self/mountinfo
o id; id
o hostname; hostname
o caps; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb):' /proc/self/status
o nnp; grep NoNewPrivs /proc/self/status
o pid; echo $$
o proc1; ls /proc/1/
o comm1; cat /proc/1/comm
o session; cut -d' ' -f6 /proc/$$/stat
o link; ip -o link
o usr; touch /usr/x 2>&1; echo "exit $?"
o workspace; echo written-inside > /workspace/out && echo "exit $?"
o secret; cat /workspace/secret.txt 2>&1; echo "exit $?"
o run; stat -c '%a %F %n' /run/x /run/x/f; cat /run/x/f
o runWrite; echo more 2>&1 >> /run/x/f; echo "exit $?"
o nofile; ulimit -n
o pwd; pwd
o shm; stat -c %a /dev/shm
`

const SECTIONS = ['root', 'dev', 'mountinfo', 'id', 'hostname', 'caps', 'nnp', 'pid', 'proc1', 'comm1', 'session', 'link', 'usr', 'workspace', 'secret', 'run', 'runWrite', 'nofile', 'pwd', 'shm'] as const
type Section = (typeof SECTIONS)[number]
/** What the program saw, with mountinfo and the links reduced to what both tools can agree on. */
type View = Omit<Record<Section, string>, 'mountinfo' | 'link'> & { mountinfo: string[]; link: string[] }

function view(t: ExecutionContext, who: string, out: string): View {
  const s = sections(out)
  for (const k of SECTIONS) if (s[k] === undefined) t.fail(`${who}: no section ${k} in ${out}`)
  const o = s as Record<Section, string>
  return { ...o, mountinfo: mounts(o.mountinfo), link: links(o.link) }
}

/** What spawn()'s proc entry covers read-only, wherever it exists (bwrap: see the test). */
const PROC_COVERED = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus'].filter((p) => fs.existsSync(p))

for (const user of users) {
  runner(user)(`bwrap and spawn() build the same sandbox: what the program sees (${user.label})`, async (t) => {
    const wsB = workspace(t, user.uid)
    const wsS = workspace(t, user.uid)
    const data = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lc-bwrap-data-')), 'data')
    t.teardown(() => fs.rmSync(path.dirname(data), { recursive: true, force: true }))
    fs.writeFileSync(data, 'file entry\n')
    fs.chmodSync(path.dirname(data), 0o755)
    const u = usr()
    const bwrapArgs = [
      '--unshare-user', '--uid', '0', '--gid', '0',
      '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--hostname', 'sandbox',
      ...u.bwrap,
      '--bind', wsB, '/workspace',
      '--ro-bind', '/dev/null', '/workspace/secret.txt',
      '--tmpfs', '/tmp',
      '--proc', '/proc',
      '--dev', '/dev',
      '--perms', '0700', '--dir', '/run/x',
      '--perms', '0640', '--file', '3', '/run/x/f',
      '--remount-ro', '/',
      '--cap-drop', 'ALL',
      '--die-with-parent',
      '--new-session',
      '--chdir', '/workspace',
    ]
    const options: SpawnOptions = {
      namespaces: ['user', 'pid', 'net', 'ipc', 'uts'],
      uidMap: 'root',
      gidMap: 'root',
      hostname: 'sandbox',
      rootfs: 'tmpfs',
      mounts: [
        ...u.mounts,
        { type: 'bind', source: wsS, target: '/workspace' },
        { type: 'bind', source: '/dev/null', target: '/workspace/secret.txt', readonly: true },
        { type: 'tmpfs', target: '/tmp' },
        { type: 'proc' },
        { type: 'dev' },
        { type: 'dir', target: '/run/x', mode: 0o700 },
        { type: 'file', target: '/run/x/f', data: 'file entry\n', mode: 0o640 },
        { type: 'remount', target: '/', readonly: true },
      ],
      capabilities: {},
      pdeathsig: 'SIGKILL',
      detached: true,
      cwd: '/workspace',
      // bwrap stays as pid 1 of the namespace and runs the program as pid 2 (without --as-pid-1).
      pidns: { init: 'reaper' },
    }
    const r = await both(t, user.uid, bwrapArgs, options, observe, data)
    t.is(r.bwrap.status, 0, `bwrap ${bwrapVersion}: ${r.bwrap.stderr}${r.bwrap.error?.message ?? ''}`)
    t.is(r.spawn.status, 0, `spawn(): ${r.spawn.stderr}${r.spawn.error?.message ?? ''}`)
    const vb = view(t, 'bwrap', r.bwrap.stdout)
    const vs = view(t, 'spawn()', r.spawn.stdout)

    // What each must show, whichever tool built it.
    const rootList = ['dev', 'proc', 'run', 'tmp', 'usr', 'workspace', ...topLevel().links.map(([a]) => a.slice(1)), ...topLevel().dirs.map((d) => d.slice(1))].sort()
    const expectMounts: Record<string, string> = {
      '/': 'tmpfs ro,nosuid,nodev',
      '/tmp': 'tmpfs rw,nosuid,nodev',
      '/proc': 'proc rw,nosuid,nodev,noexec',
      '/dev': 'tmpfs rw,nosuid,nodev',
      '/dev/pts': 'devpts rw,nosuid,noexec',
    }
    const expectOpts: Record<string, string> = { '/usr': 'ro,nosuid,nodev', '/workspace': 'rw,nosuid,nodev', '/workspace/secret.txt': 'ro,nosuid,nodev', '/dev/null': 'rw,nosuid' }
    for (const [who, v] of [['bwrap', vb], ['spawn()', vs]] as const) {
      t.deepEqual(v.root!.split('\n').sort(), rootList, who)
      for (const n of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'ptmx', 'fd', 'stdin', 'stdout', 'stderr', 'core'])
        t.true(v.dev!.split('\n').includes(n), `${who}: /dev/${n}`)
      for (const [at, m] of Object.entries(expectMounts)) t.true(v.mountinfo.includes(`${at} ${m}`), `${who}: ${at} ${m} in ${v.mountinfo.join('; ')}`)
      for (const [at, o] of Object.entries(expectOpts)) t.true(v.mountinfo.some((l) => l.startsWith(`${at} `) && l.endsWith(` ${o}`)), `${who}: ${at} ${o}`)
      t.is(v.id, 'uid=0 gid=0 groups=0', who)
      t.is(v.hostname, 'sandbox', who)
      t.is(v.caps, 'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000', who)
      // pid 1 is an init that stays (bwrap, or spawn()'s reaper); the program is pid 2.
      t.is(v.pid, '2', who)
      t.true(v.proc1!.split('\n').includes('comm'), who)
      // A session of its own, led by the namespace's init: without it, the session is led
      // outside the namespace, shown as 0.
      t.is(v.session, '1', who)
      t.deepEqual(v.link, ['lo <LOOPBACK,UP,LOWER_UP> UNKNOWN'], who)
      t.regex(v.usr!, /Read-only file system\nexit 1$/, who)
      t.is(v.workspace, 'exit 0', who)
      // /dev/null bound without device access (nodev, as both bind by default): the mask
      // cannot be read at all, let alone show the secret. See the masking test below.
      t.is(v.secret, 'cat: /workspace/secret.txt: Permission denied\nexit 1', who)
      t.is(v.run, '700 directory /run/x\n640 regular file /run/x/f\nfile entry', who)
      t.is(v.nofile, r.nofile, who)
      t.is(v.pwd, '/workspace', who)
    }
    for (const ws of [wsB, wsS]) {
      t.is(fs.readFileSync(path.join(ws, 'out'), 'utf8'), 'written-inside\n')
      // uid 0 inside is the caller outside.
      t.is(fs.statSync(path.join(ws, 'out')).uid, user.uid ?? process.getuid!())
      t.is(fs.readFileSync(path.join(ws, 'secret.txt'), 'utf8'), 'TOPSECRET\n')
    }

    // The differences by design, each asserted.
    // bwrap (not setuid) always sets no_new_privs; spawn() only when asked (noNewPrivs: true).
    t.is(vb.nnp, 'NoNewPrivs:\t1')
    t.is(vs.nnp, 'NoNewPrivs:\t0')
    // pid 1's name: bwrap's own process, or spawn()'s reaper, which names itself init.
    t.is(vb.comm1, 'bwrap')
    t.is(vs.comm1, 'init')
    // --dev makes /dev/shm 0755 (only root may use it); the dev entry makes it 1777, as on a host.
    t.is(vb.shm, '755')
    t.is(vs.shm, '1777')
    // --file writes the content into the tree (here the root, then made read-only); a file
    // entry is a mount of its own, which a remount of / does not reach (readonly: true does).
    t.regex(vb.runWrite!, /Read-only file system\nexit 2$/)
    t.is(vs.runWrite, 'exit 0')
    // spawn() covers /proc/sys, /proc/sysrq-trigger, /proc/irq and /proc/bus read-only wherever
    // they exist; bwrap only those its access(W_OK) finds writable, which a sysctl directory
    // never is (so /proc/sys/net of its own namespace stays writable to uid 0 there).
    // Run as root, uid 0 inside owns /proc/irq and /proc/bus, so bwrap covers them; run as
    // 4242 it does not own them, cannot write them anyway, and bwrap leaves them.
    const covers = PROC_COVERED.map((p) => `${p} proc ro,nosuid,nodev,noexec`).sort()
    t.deepEqual(vs.mountinfo.filter((l) => l.startsWith('/proc/')), covers)
    const bwrapCovers = vb.mountinfo.filter((l) => l.startsWith('/proc/'))
    t.false(bwrapCovers.some((l) => l.startsWith('/proc/sys ')))
    t.deepEqual(bwrapCovers, user.uid === undefined && isRoot ? covers.filter((l) => !/^\/proc\/sys(rq-trigger)? /.test(l)) : [])
    const fileEntry = '/run/x/f tmpfs rw,nosuid,nodev'
    t.true(vs.mountinfo.includes(fileEntry))
    t.false(vb.mountinfo.some((l) => l.startsWith('/run/x/f ')))

    // Everything else is the same.
    const same = (v: View) => {
      const { nnp: _n, comm1: _c, shm: _s, runWrite: _w, ...rest } = v
      return { ...rest, mountinfo: v.mountinfo.filter((l) => !l.startsWith('/proc/') && l !== fileEntry) }
    }
    t.deepEqual(same(vs), same(vb))
  })
}

/** The sandbox both tests below start from: user and pid namespaces (uid 0 inside), /usr, /proc and a workspace. */
function minimal(ws: string): { bwrap: string[]; mounts: MountEntry[]; options: SpawnOptions } {
  const u = usr()
  return {
    bwrap: ['--unshare-user', '--uid', '0', '--gid', '0', '--unshare-pid', ...u.bwrap, '--proc', '/proc', '--bind', ws, '/workspace'],
    mounts: [...u.mounts, { type: 'proc' }, { type: 'bind', source: ws, target: '/workspace' }],
    options: { namespaces: ['user', 'pid'], uidMap: 'root', gidMap: 'root', rootfs: 'tmpfs' },
  }
}

for (const user of users) {
  runner(user)(`a mask whose target is missing: bwrap creates it on the host, spawn() refuses and creates nothing (${user.label})`, async (t) => {
    const wsB = workspace(t, user.uid)
    const wsS = workspace(t, user.uid)
    const b = minimal(wsB)
    const s = minimal(wsS)
    const mounts: MountEntry[] = [...s.mounts, { type: 'bind', source: '/dev/null', target: '/workspace/absent.txt', readonly: true }]
    const r = await both(t, user.uid, [...b.bwrap, '--ro-bind', '/dev/null', '/workspace/absent.txt'], { ...s.options, mounts }, 'ls /workspace')
    // bwrap made the mount point on the host's filesystem, through the workspace bind, and left it.
    t.is(r.bwrap.status, 0, r.bwrap.stderr)
    t.is(r.bwrap.stdout, 'absent.txt\nsecret.txt\n')
    const litter = fs.statSync(path.join(wsB, 'absent.txt'))
    t.true(litter.isFile())
    t.is(litter.size, 0)
    t.is(litter.uid, user.uid ?? process.getuid!())
    // spawn() creates mount points only on mounts it made itself.
    t.is(r.spawn.status, null)
    const e = r.spawn.error!
    t.like(e, { step: 'mount', code: 'ENOENT', errno: -2, syscall: 'mkdir', index: mounts.length - 1, path: '/workspace/absent.txt' })
    t.regex(e.message, /^ENOENT: mkdir\("\/workspace\/absent\.txt"\) failed at spawn step 'mount'/)
    t.regex(e.message, /creating it would leave it on the host's filesystem \(nothing is created there\)/)
    t.deepEqual(fs.readdirSync(wsS), ['secret.txt'])
  })

  runner(user)(`masking a file: /dev/null needs device access, an empty read-only file does not (${user.label})`, async (t) => {
    const wsB = workspace(t, user.uid)
    const wsS = workspace(t, user.uid)
    for (const ws of [wsB, wsS]) {
      fs.writeFileSync(path.join(ws, 'key.pem'), 'PRIVATE KEY\n')
      if (user.uid !== undefined) fs.chownSync(path.join(ws, 'key.pem'), user.uid, user.uid)
    }
    const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lc-bwrap-empty-')), 'empty')
    t.teardown(() => fs.rmSync(path.dirname(empty), { recursive: true, force: true }))
    fs.writeFileSync(empty, '')
    fs.chmodSync(path.dirname(empty), 0o755)
    const b = minimal(wsB)
    const s = minimal(wsS)
    const script = `
      for f in secret.txt key.pem; do cat /workspace/$f 2>&1; echo "$f exit $?"; done
      grep -o ' /workspace/[^ ]* [^ ]*' /proc/self/mountinfo | sort`
    const r = await both(
      t,
      user.uid,
      [
        ...b.bwrap,
        // bwrap has no read-only device bind: a device bind, then a remount...
        '--dev-bind', '/dev/null', '/workspace/secret.txt', '--remount-ro', '/workspace/secret.txt',
        '--ro-bind-data', '3', '/workspace/key.pem',
      ],
      {
        ...s.options,
        mounts: [
          ...s.mounts,
          { type: 'bind', source: '/dev/null', target: '/workspace/secret.txt', readonly: true, devices: true },
          { type: 'file', target: '/workspace/key.pem', data: '', readonly: true },
        ],
      },
      script,
      empty,
    )
    t.is(r.bwrap.status, 0, r.bwrap.stderr)
    t.is(r.spawn.status, 0, r.spawn.stderr)
    // ...which puts nodev back (bwrap remounts with nodev unless told --dev-bind at that very
    // entry): /dev/null cannot be opened. spawn() only adds the read-only flag.
    t.is(r.bwrap.stdout, 'cat: /workspace/secret.txt: Permission denied\nsecret.txt exit 1\nkey.pem exit 0\n /workspace/key.pem ro,nosuid,nodev,relatime\n /workspace/secret.txt ro,nosuid,nodev,relatime\n')
    t.is(r.spawn.stdout, 'secret.txt exit 0\nkey.pem exit 0\n /workspace/key.pem ro,nosuid,nodev,relatime\n /workspace/secret.txt ro,nosuid,relatime\n')
    for (const ws of [wsB, wsS]) t.is(fs.readFileSync(path.join(ws, 'key.pem'), 'utf8'), 'PRIVATE KEY\n')
  })

  runner(user)(`--die-with-parent and pdeathsig: the sandbox dies with the process that started it, and only then (${user.label})`, async (t) => {
    const u = usr()
    // bwrap's own command line ends with the program's: find the sleep by its whole one, with
    // an argument no other run uses.
    let n = 0
    const cases = [true, false].flatMap((die) =>
      (['bwrap', 'spawn'] as const).map((tool) => {
        const marker = `${9000 + (user.uid ?? 0)}.${process.pid}${++n}`
        const start =
          tool === 'bwrap'
            ? `cp.spawn('bwrap', ${JSON.stringify([...(die ? ['--die-with-parent'] : []), '--unshare-user', '--uid', '0', '--gid', '0', '--unshare-pid', ...u.bwrap, '--proc', '/proc', '/usr/bin/sleep', marker])}, { stdio: 'ignore' })`
            : `lc.spawn('/usr/bin/sleep', [${JSON.stringify(marker)}], ${JSON.stringify({
                namespaces: ['user', 'pid'], uidMap: 'root', gidMap: 'root', rootfs: 'tmpfs', mounts: [...u.mounts, { type: 'proc' }],
                pidns: { init: 'reaper' }, ...(die ? { pdeathsig: 'SIGKILL' } : {}), stdio: 'ignore',
              } satisfies SpawnOptions)})`
        const code = `const lc = await import(process.env.LC_ENTRY); const cp = await import('node:child_process'); ${start}; setInterval(() => {}, 60000);`
        return { name: `${tool}${die ? '' : ' (without)'}`, die, marker, code }
      }),
    )
    const run = await runIsolated(
      `
      const cp = await import('node:child_process');
      const find = (marker) => {
        for (const d of fs.readdirSync('/proc')) {
          try { if (/^\\d+$/.test(d) && fs.readFileSync('/proc/' + d + '/cmdline', 'utf8') === '/usr/bin/sleep\\0' + marker + '\\0') return Number(d) } catch {}
        }
        return 0;
      };
      const until = async (f, ms) => { for (let i = 0; i < ms / 20 && !f(); i++) await new Promise((r) => setTimeout(r, 20)); return f(); };
      const out = {};
      for (const c of ${JSON.stringify(cases)}) {
        const holder = cp.spawn(process.execPath, ['--input-type=module', '-e', c.code], { stdio: 'ignore' });
        const started = await until(() => find(c.marker) > 0, 10000);
        const pid = find(c.marker);
        holder.kill('SIGKILL');
        await new Promise((r) => holder.once('exit', r));
        // Gone at once with the option; still there a while later without it.
        const gone = await until(() => find(c.marker) === 0, c.die ? 5000 : 300);
        if (pid && !gone) process.kill(pid, 'SIGKILL');
        out[c.name] = { started, gone };
      }
      report(out);
    `,
      { uid: user.uid },
    )
    t.deepEqual(ok(t, run), {
      bwrap: { started: true, gone: true },
      spawn: { started: true, gone: true },
      'bwrap (without)': { started: true, gone: false },
      'spawn (without)': { started: true, gone: false },
    })
  })
}
