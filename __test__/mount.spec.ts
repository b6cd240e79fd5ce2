import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import * as lc from '../dist/index.js'
import { asRoot, isSystemError, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const root = asRoot('mounting and naming hosts need CAP_SYS_ADMIN, and running as lc-test needs setpriv')

// Every test that mounts does it in a clone() callback with NEWNS, inside a node process of its
// own: the mounts end with the child, and a regression cannot leave one in the test process.
// `full(f)` is f's error with path and dest; `mountOf(dir)` is the mountinfo entry for dir.
const helpers = `
  const full = (f) => { try { f(); return 'no error' } catch (e) { return { ...describe(e), path: e.path, dest: e.dest } } };
  const mountOf = (dir) => {
    const line = fs.readFileSync('/proc/thread-self/mountinfo', 'utf8').split('\\n').find((l) => l.split(' ')[4] === dir);
    if (!line) return null;
    const f = line.split(' ');
    const sep = f.indexOf('-');
    return { options: f[5].split(','), tags: f.slice(6, sep), fstype: f[sep + 1], source: f[sep + 2], superOptions: f[sep + 3].split(',') };
  };
  const privateRoot = () => lc.mount(null, '/', null, lc.MS_REC | lc.MS_PRIVATE);
  const inChild = (flags, f) => { const exit = lc.waitpid(lc.clone(f, 0, flags | lc.SIGCHLD)).exitCode; if (exit !== 0) throw new Error('child exited with ' + exit); };
`

type Failure = SystemErrorShape & { path?: string; dest?: string }

interface MountEntry {
  options: string[]
  tags: string[]
  fstype: string
  source: string
  superOptions: string[]
}

function tempDir(t: { teardown(f: () => void): void }, prefix = 'lc-mount-'): string {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/${prefix}`)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const hostMounts = (): string => fs.readFileSync('/proc/self/mountinfo', 'utf8')

root('mount() of a tmpfs in a NEWNS callback: its flags and size=/mode= options show in mountinfo, for the child alone', async (t) => {
  const dir = tempDir(t)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const dir = ${JSON.stringify(dir)};
      let seen;
      inChild(lc.NEWNS, () => {
        privateRoot();
        lc.mount('lc-tmpfs', dir, 'tmpfs', lc.MS_NOSUID | lc.MS_NODEV | lc.MS_NOEXEC, 'size=1m,mode=700');
        fs.writeFileSync(dir + '/only-here', 'x');
        seen = { entry: mountOf(dir), mode: (fs.statSync(dir).mode & 0o777).toString(8), files: fs.readdirSync(dir) };
      });
      report({ ...seen, outside: fs.readdirSync(dir), mountedOutside: mountOf(dir) !== null });
    `),
  ) as { entry: MountEntry; mode: string; files: string[]; outside: string[]; mountedOutside: boolean }
  t.like(r.entry, { fstype: 'tmpfs', source: 'lc-tmpfs' })
  for (const flag of ['rw', 'nosuid', 'nodev', 'noexec']) t.true(r.entry.options.includes(flag), r.entry.options.join())
  t.true(r.entry.superOptions.includes('size=1024k'), r.entry.superOptions.join())
  t.true(r.entry.superOptions.includes('mode=700'), r.entry.superOptions.join())
  t.is(r.mode, '700')
  t.deepEqual(r.files, ['only-here'])
  t.deepEqual(r.outside, [])
  t.false(r.mountedOutside)
  t.false(hostMounts().includes(dir))
})

root('MS_BIND | MS_REC shows a directory and the mount beneath it; MS_REMOUNT | MS_BIND | MS_RDONLY makes the bind read-only (EROFS), not the source', async (t) => {
  const src = tempDir(t, 'lc-bind-src-')
  const dst = tempDir(t, 'lc-bind-dst-')
  const flat = tempDir(t, 'lc-bind-flat-')
  fs.writeFileSync(`${src}/hello`, 'hello through the bind')
  fs.mkdirSync(`${src}/sub`)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const [src, dst, flat] = ${JSON.stringify([src, dst, flat])};
      let seen;
      inChild(lc.NEWNS, () => {
        privateRoot();
        lc.mount('lc-sub', src + '/sub', 'tmpfs', 0);
        fs.writeFileSync(src + '/sub/deep', 'on the submount');
        lc.mount(src, dst, null, lc.MS_BIND | lc.MS_REC);
        lc.mount(src, flat, null, lc.MS_BIND);
        const through = { hello: fs.readFileSync(dst + '/hello', 'utf8'), deep: fs.readFileSync(dst + '/sub/deep', 'utf8'), flat: fs.readdirSync(flat + '/sub') };
        lc.mount(null, dst, null, lc.MS_REMOUNT | lc.MS_BIND | lc.MS_RDONLY);
        let write = 'no error';
        try { fs.writeFileSync(dst + '/new', 'x') } catch (e) { write = e.code }
        fs.writeFileSync(src + '/still-writable', 'x');
        seen = { through, write, options: mountOf(dst).options, srcWritable: fs.existsSync(dst + '/still-writable') };
      });
      report(seen);
    `),
  ) as { through: Record<string, unknown>; write: string; options: string[]; srcWritable: boolean }
  t.deepEqual(r.through, { hello: 'hello through the bind', deep: 'on the submount', flat: [] })
  t.is(r.write, 'EROFS')
  t.true(r.options.includes('ro'), r.options.join())
  t.true(r.srcWritable, 'the source stays writable, and what is written there shows through the bind')
  t.false(hostMounts().includes(dst))
})

root('propagation: MS_SHARED puts a shared: tag in mountinfo, MS_PRIVATE takes it away, MS_REC | MS_PRIVATE on / leaves none', async (t) => {
  const dir = tempDir(t)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const dir = ${JSON.stringify(dir)};
      let seen;
      inChild(lc.NEWNS, () => {
        privateRoot();
        const anyShared = fs.readFileSync('/proc/thread-self/mountinfo', 'utf8').includes(' shared:');
        lc.mount('lc-prop', dir, 'tmpfs', 0);
        lc.mount(null, dir, null, lc.MS_SHARED);
        const shared = mountOf(dir).tags;
        lc.mount(null, dir, null, lc.MS_PRIVATE);
        seen = { anyShared, shared, private: mountOf(dir).tags };
      });
      report(seen);
    `),
  ) as { anyShared: boolean; shared: string[]; private: string[] }
  t.false(r.anyShared)
  t.is(r.shared.length, 1)
  t.regex(r.shared[0]!, /^shared:\d+$/)
  t.deepEqual(r.private, [])
})

root('umount(): EBUSY while a file on the mount is open, naming MNT_DETACH; with MNT_DETACH it leaves mountinfo at once and the open file still reads', async (t) => {
  const dir = tempDir(t)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const dir = ${JSON.stringify(dir)};
      let seen;
      inChild(lc.NEWNS, () => {
        privateRoot();
        lc.mount('lc-busy', dir, 'tmpfs', 0);
        fs.writeFileSync(dir + '/open', 'still readable');
        const fd = fs.openSync(dir + '/open', 'r');
        const busy = full(() => lc.umount(dir));
        lc.umount(dir, lc.MNT_DETACH);
        const mounted = mountOf(dir) !== null;
        const content = fs.readFileSync(fd, 'utf8');
        fs.closeSync(fd);
        seen = { busy, mounted, content, files: fs.readdirSync(dir) };
      });
      report(seen);
    `),
  ) as { busy: Failure; mounted: boolean; content: string; files: string[] }
  isSystemError(t, r.busy, 'EBUSY', 'umount2', /still in use .*pass MNT_DETACH to detach it now/)
  t.is(r.busy.path, dir)
  t.false(r.mounted)
  t.is(r.content, 'still readable')
  t.deepEqual(r.files, [])
})

root('umount() with MNT_EXPIRE: EAGAIN marks the mount expired, a second call unmounts it', async (t) => {
  const dir = tempDir(t)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const dir = ${JSON.stringify(dir)};
      let seen;
      inChild(lc.NEWNS, () => {
        privateRoot();
        lc.mount('lc-expire', dir, 'tmpfs', 0);
        const first = full(() => lc.umount(dir, lc.MNT_EXPIRE));
        const second = full(() => lc.umount(dir, lc.MNT_EXPIRE));
        seen = { first, second, mounted: mountOf(dir) !== null };
      });
      report(seen);
    `),
  ) as { first: Failure; second: string; mounted: boolean }
  isSystemError(t, r.first, 'EAGAIN', 'umount2', /the first call marks the mount expired/)
  t.is(r.second, 'no error')
  t.false(r.mounted)
})

root('sethostname() and setdomainname() in a NEWUTS callback: hostname, uname -n and domainname see them; the host keeps its names', async (t) => {
  const hostBefore = os.hostname()
  const domainBefore = fs.readFileSync('/proc/sys/kernel/domainname', 'utf8')
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const before = os.hostname();
      let seen;
      inChild(lc.NEWUTS, () => {
        lc.sethostname('lc-mount-test');
        lc.setdomainname('lc-test.example');
        const run = (cmd, ...args) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();
        seen = {
          os: os.hostname(),
          hostname: run('hostname'),
          uname: run('uname', '-n'),
          domainname: run('domainname'),
          proc: fs.readFileSync('/proc/sys/kernel/domainname', 'utf8').trim(),
        };
        lc.sethostname('h'.repeat(64));
        seen.longest = os.hostname().length;
      });
      report({ seen, unchanged: os.hostname() === before });
    `),
  ) as { seen: Record<string, unknown>; unchanged: boolean }
  t.deepEqual(r.seen, {
    os: 'lc-mount-test',
    hostname: 'lc-mount-test',
    uname: 'lc-mount-test',
    domainname: 'lc-test.example',
    proc: 'lc-test.example',
    longest: 64,
  })
  t.true(r.unchanged)
  t.is(os.hostname(), hostBefore)
  t.is(fs.readFileSync('/proc/sys/kernel/domainname', 'utf8'), domainBefore)
})

root('as an unprivileged user: mount, umount, sethostname and setdomainname are EPERM and say why; in clone(NEWUSER | NEWNS | NEWUTS) with a uid map they work', async (t) => {
  const r = ok(
    t,
    await runIsolated(
      `${helpers}
      const dir = fs.mkdtempSync(os.tmpdir() + '/lc-rootless-');
      const refused = {
        mount: full(() => lc.mount('lc', dir, 'tmpfs', 0)),
        umount: full(() => lc.umount('/proc')),
        sethostname: full(() => lc.sethostname('lc-nope')),
        setdomainname: full(() => lc.setdomainname('lc-nope')),
      };
      // Read outside: in the new user namespace, with no map yet, both are the overflow id.
      const [uid, gid] = [process.geteuid(), process.getegid()];
      let seen, outside;
      try {
        inChild(lc.NEWUSER | lc.NEWNS | lc.NEWUTS, () => {
          fs.writeFileSync('/proc/self/uid_map', '0 ' + uid + ' 1');
          fs.writeFileSync('/proc/self/setgroups', 'deny');
          fs.writeFileSync('/proc/self/gid_map', '0 ' + gid + ' 1');
          privateRoot();
          lc.mount('lc-rootless', dir, 'tmpfs', lc.MS_NOSUID | lc.MS_NODEV, 'size=1m');
          fs.writeFileSync(dir + '/mine', 'x');
          lc.sethostname('lc-rootless');
          seen = { uid: process.getuid(), entry: mountOf(dir), files: fs.readdirSync(dir), hostname: os.hostname() };
        });
        outside = fs.readdirSync(dir);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      report({ refused, seen, outside, uid: process.getuid() });
    `,
      { uid: 4242 },
    ),
  ) as { refused: Record<string, Failure>; seen: { uid: number; entry: MountEntry; files: string[]; hostname: string }; outside: string[]; uid: number }
  isSystemError(t, r.refused.mount, 'EPERM', 'mount', /mounting needs CAP_SYS_ADMIN in the user namespace that owns the calling thread's mount namespace: .*clone\(\) callback with NEWUSER \| NEWNS/)
  t.regex(r.refused.mount!.dest!, /lc-rootless-/)
  isSystemError(t, r.refused.umount, 'EPERM', 'umount2', /unmounting needs CAP_SYS_ADMIN/)
  isSystemError(t, r.refused.sethostname, 'EPERM', 'sethostname', /sethostname needs CAP_SYS_ADMIN in the user namespace that owns the calling thread's UTS namespace: .*NEWUTS/)
  isSystemError(t, r.refused.setdomainname, 'EPERM', 'setdomainname', /setdomainname needs CAP_SYS_ADMIN/)
  t.is(r.seen.uid, 0)
  t.like(r.seen.entry, { fstype: 'tmpfs', source: 'lc-rootless' })
  t.true(r.seen.entry.superOptions.includes('size=1024k'), r.seen.entry.superOptions.join())
  t.deepEqual(r.seen.files, ['mine'])
  t.is(r.seen.hostname, 'lc-rootless')
  t.deepEqual(r.outside, [])
  t.is(r.uid, 4242)
})

root('mount() failures from the kernel carry code, errno, syscall, path/dest and the likely cause', async (t) => {
  const dir = tempDir(t)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const dir = ${JSON.stringify(dir)};
      let seen;
      inChild(lc.NEWNS, () => {
        privateRoot();
        seen = {
          target: full(() => lc.mount('lc', '/nonexistent/lc-target', 'tmpfs', 0)),
          source: full(() => lc.mount('/nonexistent/lc-source', dir, null, lc.MS_BIND)),
          fstype: full(() => lc.mount('lc', dir, 'lc-no-such-fs', 0)),
          mixed: full(() => lc.mount(null, dir, null, lc.MS_PRIVATE | lc.MS_NOSUID)),
          twoKinds: full(() => lc.mount(null, dir, null, lc.MS_PRIVATE | lc.MS_SHARED)),
          notMounted: full(() => lc.mount(null, dir, null, lc.MS_REC | lc.MS_PRIVATE)),
          remount: full(() => lc.mount(null, dir, null, lc.MS_REMOUNT | lc.MS_BIND | lc.MS_RDONLY)),
          options: full(() => lc.mount('lc', dir, 'tmpfs', 0, 'size=banana')),
          noType: full(() => lc.mount('lc', dir, null, 0)),
        };
      });
      report(seen);
    `),
  ) as Record<string, Failure>
  isSystemError(t, r.target, 'ENOENT', 'mount', /mount\("lc", "\/nonexistent\/lc-target", "tmpfs", 0\) failed: the target \/nonexistent\/lc-target does not exist$/)
  t.is(r.target!.dest, '/nonexistent/lc-target')
  isSystemError(t, r.source, 'ENOENT', 'mount', /MS_BIND\) failed: the source \/nonexistent\/lc-source does not exist$/)
  t.is(r.source!.path, '/nonexistent/lc-source')
  t.is(r.source!.dest, dir)
  isSystemError(t, r.fstype, 'ENODEV', 'mount', /the filesystem type "lc-no-such-fs" is not known to this kernel \(\/proc\/filesystems/)
  isSystemError(t, r.mixed, 'EINVAL', 'mount', /exactly one of MS_SHARED, MS_PRIVATE, MS_SLAVE and MS_UNBINDABLE, with MS_REC at most, not MS_PRIVATE\|MS_NOSUID/)
  isSystemError(t, r.twoKinds, 'EINVAL', 'mount', /exactly one of .* not MS_SHARED\|MS_PRIVATE/)
  isSystemError(t, r.notMounted, 'EINVAL', 'mount', new RegExp(`propagation belongs to mounts, and ${dir} is not a mount point`))
  isSystemError(t, r.remount, 'EINVAL', 'mount', new RegExp(`MS_REMOUNT\\|MS_BIND\\|MS_RDONLY\\) failed: MS_REMOUNT changes an existing mount, and ${dir} is not a mount point`))
  isSystemError(t, r.options, 'EINVAL', 'mount', /0, "size=banana"\) failed: the tmpfs filesystem refused its options \("size=banana"\)/)
  isSystemError(t, r.noType, 'EINVAL', 'mount', /a new mount needs fstype/)
})

root('umount() failures from the kernel carry code, errno, syscall, path and the likely cause', async (t) => {
  const dir = tempDir(t)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const dir = ${JSON.stringify(dir)};
      let seen;
      inChild(lc.NEWNS, () => {
        privateRoot();
        const notMounted = full(() => lc.umount(dir));
        lc.mount('lc', dir, 'tmpfs', 0);
        seen = {
          notMounted,
          missing: full(() => lc.umount('/nonexistent/lc-target')),
          expireDetach: full(() => lc.umount(dir, lc.MNT_EXPIRE | lc.MNT_DETACH)),
        };
      });
      report(seen);
    `),
  ) as Record<string, Failure>
  isSystemError(t, r.notMounted, 'EINVAL', 'umount2', new RegExp(`umount2\\("${dir}", 0\\) failed: ${dir} is not a mount point`))
  t.is(r.notMounted!.path, dir)
  isSystemError(t, r.missing, 'ENOENT', 'umount2', /\/nonexistent\/lc-target does not exist/)
  isSystemError(t, r.expireDetach, 'EINVAL', 'umount2', /MNT_DETACH\|MNT_EXPIRE\) failed: MNT_EXPIRE cannot be combined with MNT_FORCE or MNT_DETACH/)
})

root('after unshare(NEWNS) on the main thread, a mount is seen by synchronous fs there, not by the threadpool (async fs)', async (t) => {
  const dir = tempDir(t)
  const r = ok(
    t,
    await runIsolated(`${helpers}
      const dir = ${JSON.stringify(dir)};
      lc.unshare(lc.NEWNS);
      privateRoot();
      lc.mount('lc-thread', dir, 'tmpfs', 0);
      fs.writeFileSync(dir + '/here', 'x');
      report({ sync: fs.readdirSync(dir), async: await fs.promises.readdir(dir) });
    `),
  )
  t.deepEqual(r, { sync: ['here'], async: [] })
})

// Wrong arguments are refused before any syscall, so these run in the test process. The
// targets do not exist: were a check missing, the kernel would answer ENOENT and mount nothing.
type Loose = (...args: unknown[]) => unknown
const mount = lc.mount as Loose
const umount = lc.umount as Loose
const nowhere = '/nonexistent/lc-arg'

const argumentErrors: [string, () => unknown, string, string, RegExp][] = [
  ['mount(undefined, ...)', () => mount(undefined, nowhere, null, 0), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "source" argument must be of type string or null\. Received undefined$/],
  ['mount(null, 5, ...)', () => mount(null, 5, null, 0), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "target" argument must be of type string\. Received type number \(5\)$/],
  ['mount(..., fstype 1, ...)', () => mount(null, nowhere, 1, 0), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "fstype" argument must be of type string or null\. Received type number \(1\)$/],
  ['mount(..., flags missing)', () => mount(null, nowhere, null), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "flags" argument must be of type number\. Received undefined$/],
  ["mount(..., flags '1')", () => mount(null, nowhere, null, '1'), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"flags" argument must be of type number/],
  ['mount(..., data 7)', () => mount(null, nowhere, 'tmpfs', 0, 7), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "data" argument must be of type string or null\. Received type number \(7\)$/],
  ['mount(..., flags 1.5)', () => mount(null, nowhere, null, 1.5), 'RangeError', 'ERR_OUT_OF_RANGE', /"flags" is out of range\. It must be an integer\. Received 1\.5/],
  ['mount(..., flags 2 ** 32)', () => mount(null, nowhere, null, 2 ** 32), 'RangeError', 'ERR_OUT_OF_RANGE', /"flags" is out of range/],
  ['mount(..., MS_BIND | MS_KERNMOUNT)', () => mount(null, nowhere, null, lc.MS_BIND | 0x400000), 'TypeError', 'ERR_INVALID_ARG_VALUE', /^The argument 'flags' must be a mask of the MS_\* mount flags; 0x400000 is none of them\. Received MS_BIND\|0x400000$/],
  ['mount(..., MS_REC | bit 31)', () => mount(null, nowhere, null, lc.MS_REC | (1 << 31)), 'TypeError', 'ERR_INVALID_ARG_VALUE', /0x80000000 is none of them/],
  ['mount(null, "/a\\0b", ...)', () => mount(null, '/a\0b', 'tmpfs', 0), 'TypeError', 'ERR_INVALID_ARG_VALUE', /^The argument 'target' must be a string without null bytes/],
  ['mount(..., data with \\0)', () => mount(null, nowhere, 'tmpfs', 0, 'size=1m\0'), 'TypeError', 'ERR_INVALID_ARG_VALUE', /^The argument 'data' must be a string without null bytes/],
  ['umount()', () => umount(), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "target" argument must be of type string\. Received undefined$/],
  ['umount(nowhere, null)', () => umount(nowhere, null), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "flags" argument must be of type number\. Received null$/],
  ['umount(nowhere, 0x10)', () => umount(nowhere, 0x10), 'TypeError', 'ERR_INVALID_ARG_VALUE', /^The argument 'flags' must be a mask of MNT_FORCE, MNT_DETACH, MNT_EXPIRE and UMOUNT_NOFOLLOW; 0x10 is none of them\. Received 0x10$/],
  ['umount(nowhere, -1)', () => umount(nowhere, -1), 'TypeError', 'ERR_INVALID_ARG_VALUE', /0xfffffff0 is none of them/],
  ['sethostname(1)', () => (lc.sethostname as Loose)(1), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "name" argument must be of type string\. Received type number \(1\)$/],
  ['setdomainname()', () => (lc.setdomainname as Loose)(), 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "name" argument must be of type string\. Received undefined$/],
  ['sethostname(65 bytes)', () => lc.sethostname('h'.repeat(65)), 'TypeError', 'ERR_INVALID_ARG_VALUE', /^The argument 'name' must be at most 64 bytes long, the kernel's limit for a host name\. Received "h{65}" \(65 bytes\)$/],
  ['sethostname(33 two-byte characters)', () => lc.sethostname('é'.repeat(33)), 'TypeError', 'ERR_INVALID_ARG_VALUE', /at most 64 bytes long.*\(66 bytes\)$/],
  ['setdomainname(65 bytes)', () => lc.setdomainname('d'.repeat(65)), 'TypeError', 'ERR_INVALID_ARG_VALUE', /the kernel's limit for a domain name/],
  ['sethostname("a\\0b")', () => lc.sethostname('a\0b'), 'TypeError', 'ERR_INVALID_ARG_VALUE', /^The argument 'name' must be a string without null bytes/],
]

for (const [name, call, kind, code, message] of argumentErrors) {
  test(`${name} is a ${kind} ${code}, before any syscall`, (t) => {
    const err = t.throws(call) as Error & { code?: string }
    t.is(err.constructor.name, kind)
    t.is(err.code, code)
    t.regex(err.message, message)
  })
}

test('the constants are plain numbers with the kernel values', (t) => {
  const names = ['MS_RDONLY', 'MS_BIND', 'MS_REC', 'MS_PRIVATE', 'MS_SHARED', 'MS_NOSYMFOLLOW', 'MS_LAZYTIME', 'MNT_FORCE', 'MNT_DETACH', 'MNT_EXPIRE', 'UMOUNT_NOFOLLOW'] as const
  const values: Record<string, number> = Object.fromEntries(names.map((n) => [n, lc[n]]))
  t.deepEqual(values, {
    MS_RDONLY: 1,
    MS_BIND: 0x1000,
    MS_REC: 0x4000,
    MS_PRIVATE: 0x40000,
    MS_SHARED: 0x100000,
    MS_NOSYMFOLLOW: 0x100,
    MS_LAZYTIME: 0x2000000,
    MNT_FORCE: 1,
    MNT_DETACH: 2,
    MNT_EXPIRE: 4,
    UMOUNT_NOFOLLOW: 8,
  })
})
