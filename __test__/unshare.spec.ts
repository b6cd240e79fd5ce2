import test from 'ava'
import os from 'node:os'
import fs from 'node:fs'
import { asRoot, entry, isSystemError, needs, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const root = asRoot('creating namespaces needs CAP_SYS_ADMIN')

root('unshare(NEWUTS): the hostname changes for this process and what it spawns, not for others', async (t) => {
  const before = os.hostname()
  const r = ok(
    t,
    await runIsolated(`
      lc.unshare(lc.NEWUTS);
      execSync('hostname lc-test');
      report({ hostname: os.hostname(), spawned: execSync('hostname').toString().trim() });
    `),
  )
  t.deepEqual(r, { hostname: 'lc-test', spawned: 'lc-test' })
  t.is(os.hostname(), before)
  t.not(before, 'lc-test')
})

needs('ip', root)('unshare(NEWNET): only lo, which configureLoopback() brings up for a TCP server on 127.0.0.1', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      import net from 'node:net';
      const before = ifaces();
      const netns = nsOf('net');
      lc.unshare(lc.NEWNET);
      const inside = ifaces();
      const flags = () => execSync('ip -o link show lo').toString();
      const downBefore = !/[<,]UP[,>]/.test(flags());
      lc.configureLoopback();
      const upAfter = /[<,]UP[,>]/.test(flags());
      const server = net.createServer((s) => s.end('hello from the new netns'));
      await new Promise((res) => server.listen(0, '127.0.0.1', res));
      const { port } = server.address();
      const reply = await new Promise((res, rej) => {
        const c = net.connect(port, '127.0.0.1');
        let data = '';
        c.on('data', (d) => (data += d)).on('end', () => res(data)).on('error', rej);
      });
      server.close();
      report({ before, inside, downBefore, upAfter, reply, changed: nsOf('net') !== netns });
    `),
  ) as Record<string, unknown>
  t.deepEqual(r.inside, ['lo'])
  t.true((r.before as string[]).length > 1, 'the machine has interfaces besides lo')
  t.true(r.downBefore as boolean)
  t.true(r.upAfter as boolean)
  t.is(r.reply, 'hello from the new netns')
  t.true(r.changed as boolean)
})

root('setns() through a saved fd, as a number and as a FileHandle, restores the original interfaces', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      const before = ifaces();
      const fd = fs.openSync('/proc/thread-self/ns/net', 'r');
      const fh = await fs.promises.open('/proc/thread-self/ns/net', 'r');
      lc.unshare(lc.NEWNET);
      const away1 = ifaces();
      lc.setns(fd);
      const back1 = ifaces();
      lc.unshare(lc.NEWNET);
      const away2 = ifaces();
      lc.setns(fh, lc.NEWNET);
      const back2 = ifaces();
      await fh.close();
      report({ before, away1, back1, away2, back2 });
    `),
  ) as Record<string, string[]>
  t.deepEqual(r.away1, ['lo'])
  t.deepEqual(r.away2, ['lo'])
  t.deepEqual(r.back1, r.before)
  t.deepEqual(r.back2, r.before)
})

root('unshare(NEWNS): a tmpfs mounted after it is visible to this process only', async (t) => {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/lc-mnt-`)
  try {
    const r = ok(
      t,
      await runIsolated(`
        lc.unshare(lc.NEWNS);
        execSync('mount --make-rprivate /');
        execSync('mount -t tmpfs lc-test-tmpfs ${dir}');
        fs.writeFileSync('${dir}/inside', 'x');
        const mounted = fs.readFileSync('/proc/thread-self/mountinfo', 'utf8').includes('${dir}');
        report({ mounted, file: fs.existsSync('${dir}/inside') });
      `),
    )
    t.deepEqual(r, { mounted: true, file: true })
    t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir))
    t.false(fs.existsSync(`${dir}/inside`))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('unshare() of a flag unshare(2) rejects (IO) is EINVAL from the kernel, not a RangeError', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.unshare(lc.NEWUTS | lc.IO)))`))
  isSystemError(t, r, 'EINVAL', 'unshare', /does not accept IO/)
  t.is((r as SystemErrorShape).name, 'Error')
  t.regex((r as SystemErrorShape).message, /unshare\(NEWUTS\|IO\)/)
})

test('unshare(NEWUSER) is EINVAL and says why: Node.js is multithreaded', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.unshare(lc.NEWUSER)))`))
  isSystemError(t, r, 'EINVAL', 'unshare', /Node\.js is multithreaded.*user namespace.*new process/)
})

test('unshare(VM) is EINVAL and says a multithreaded process cannot stop sharing memory', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.unshare(lc.VM)))`))
  isSystemError(t, r, 'EINVAL', 'unshare', /multithreaded.*address space.*\(VM\)/)
})

root('unshare(NEWNET) as an unprivileged user is EPERM and names CAP_SYS_ADMIN', async (t) => {
  const r = ok(
    t,
    await runIsolated(`report(attempt(() => lc.unshare(lc.NEWNET)))`, { uid: 65534 }),
  )
  isSystemError(t, r, 'EPERM', 'unshare', /CAP_SYS_ADMIN/)
  t.regex((r as SystemErrorShape).message, /NEWNET/)
})

root('unshare(NEWNET) past the namespace limit is ENOSPC and points at max_*_namespaces', async (t) => {
  // Limits are per user namespace: lower it in a user namespace of the node process's own.
  const r = ok(
    t,
    await runIsolated(
      `fs.writeFileSync('/proc/sys/user/max_net_namespaces', '0');
       report(attempt(() => lc.unshare(lc.NEWNET)))`,
      { prefix: ['unshare', '--user', '--map-root-user'] },
    ),
  )
  isSystemError(t, r, 'ENOSPC', 'unshare', /namespace limit is reached.*max_\*_namespaces/)
})

root('configureLoopback() as an unprivileged user is EPERM and names CAP_NET_ADMIN', async (t) => {
  const r = ok(
    t,
    await runIsolated(`report(attempt(() => lc.configureLoopback()))`, { uid: 65534 }),
  )
  isSystemError(t, r, 'EPERM', 'ioctl', /CAP_NET_ADMIN/)
})

test('refused flags throw ERR_UNSAFE_WITH_THREADS, and the threadpool and Workers still work after', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      import { Worker } from 'node:worker_threads';
      import crypto from 'node:crypto';
      const attempts = {
        NEWPID: () => lc.unshare(lc.NEWPID),
        NEWTIME: () => lc.unshare(lc.NEWTIME),
        FILES: () => lc.unshare(lc.FILES),
        'NEWNET|NEWPID': () => lc.unshare(lc.NEWNET | lc.NEWPID),
        'setns pid': () => lc.setns(fs.openSync('/proc/self/ns/pid', 'r')),
        'setns pidfd pid': () => lc.setns(lc.pidfdOpen(process.pid), lc.NEWPID | lc.NEWUTS),
      };
      const errors = {};
      for (const [name, f] of Object.entries(attempts)) {
        errors[name] = attempt(f);
      }
      const file = await fs.promises.readFile('/proc/self/status', 'utf8');
      const key = await new Promise((res, rej) => crypto.pbkdf2('pw', 'salt', 1000, 16, 'sha256', (e, k) => e ? rej(e) : res(k.toString('hex'))));
      const fromWorker = await new Promise((res, rej) => {
        const w = new Worker("require('worker_threads').parentPort.postMessage('worker ok')", { eval: true, execArgv: [] });
        w.on('message', res).on('error', rej);
      });
      report({ errors, threadpool: file.includes('Threads:') && key.length === 32, fromWorker });
    `),
  ) as { errors: Record<string, SystemErrorShape & { errno?: number }>; threadpool: boolean; fromWorker: string }
  const why: Record<string, RegExp> = {
    NEWPID: /unshare\(NEWPID\) refused: .*can no longer create threads.*abort/,
    NEWTIME: /unshare\(NEWTIME\) refused: .*can no longer create threads/,
    FILES: /unshare\(FILES\) refused: .*EBADF/,
    'NEWNET|NEWPID': /unshare\(NEWNET\|NEWPID\) refused/,
    'setns pid': /setns\(\d+, 0\) refused: after entering a pid namespace/,
    'setns pidfd pid': /setns\(\d+, NEWUTS\|NEWPID\) refused: after entering a pid namespace/,
  }
  for (const [name, re] of Object.entries(why)) {
    const e = r.errors[name]
    t.is(e.code, 'ERR_UNSAFE_WITH_THREADS', name)
    t.is(e.syscall, name.startsWith('setns') ? 'setns' : 'unshare', name)
    t.is(e.errno, undefined, name)
    t.regex(e.message, re, name)
  }
  t.true(r.threadpool)
  t.is(r.fromWorker, 'worker ok')
})

root('in a Worker, unshare(NEWNET) changes that Worker thread only', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      import { Worker } from 'node:worker_threads';
      const mainBefore = nsOf('net');
      const worker = await new Promise((res, rej) => {
        const w = new Worker(\`
          const { parentPort } = require('node:worker_threads');
          const fs = require('node:fs');
          const lc = require(${JSON.stringify(entry)});
          const before = fs.readlinkSync('/proc/thread-self/ns/net');
          lc.unshare(lc.NEWNET);
          parentPort.postMessage({
            before,
            after: fs.readlinkSync('/proc/thread-self/ns/net'),
            mainSeenFromWorker: fs.readlinkSync('/proc/self/ns/net'),
          });\`, { eval: true, execArgv: [] });
        w.on('message', res).on('error', rej);
      });
      report({ mainBefore, mainAfter: nsOf('net'), worker });
    `),
  ) as { mainBefore: string; mainAfter: string; worker: { before: string; after: string; mainSeenFromWorker: string } }
  t.is(r.worker.before, r.mainBefore)
  t.not(r.worker.after, r.worker.before)
  t.is(r.mainAfter, r.mainBefore)
  t.is(r.worker.mainSeenFromWorker, r.mainBefore)
})
