// Mount attributes without mount_setattr(2) (Linux before 5.12): spawn() remounts the mount
// and every submount /proc/self/mountinfo lists below it. Here the kernel has mount_setattr, so
// Node runs under a seccomp filter (installed by bwrap) that answers ENOSYS to it.
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { asRoot } from './_helpers.js'
import { compileSeccomp } from '../dist/index.js'

const root = asRoot('a mount namespace without a user namespace needs CAP_SYS_ADMIN')

/** Runs `script` in a Node whose mount_setattr fails with ENOSYS (a filter compiled here,
 * installed by bwrap: compileSeccomp's output is what bwrap --seccomp reads), with a tmpfs at
 * `sub`. */
function withoutMountSetattr(script: string, deny: boolean, sub: string): string {
  const filter = compileSeccomp({ defaultAction: 'allow', rules: deny ? [{ syscalls: ['mount_setattr'], action: { errno: 'ENOSYS' } }] : [] })
  const file = path.join(os.tmpdir(), `lc-nosetattr-${process.pid}-${deny}`)
  fs.writeFileSync(file, filter)
  try {
    // The submount is made before the spawn: bind sources are read in the tree it starts from.
    return execFileSync('sh', ['-c', 'exec bwrap --bind / / --dev-bind /dev /dev --proc /proc --tmpfs "$1" --seccomp 3 "$2" -e "$3" 3<"$0"', file, sub, process.execPath, script], { encoding: 'utf8' })
  } finally {
    fs.rmSync(file, { force: true })
  }
}

for (const deny of [true, false]) {
  root(`readonly reaches every submount ${deny ? 'without mount_setattr (remounts)' : 'with mount_setattr'}; nosuid and a submount's own flags stay`, (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-fallback-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    fs.mkdirSync(path.join(dir, 'sub'))
    const script = `
      const lc = require(${JSON.stringify(path.resolve('dist/index.js'))});
      const r = lc.spawnSync('/bin/sh', ['-c', 'for f in /mnt/w/x /mnt/w/sub/x; do touch $f 2>/dev/null && echo "$f written" || echo "$f read-only"; done; grep " /mnt/w" /proc/self/mountinfo | cut -d" " -f5,6'], {
        encoding: 'utf8', namespaces: ['mnt'],
        mounts: [
          { type: 'tmpfs', target: '/mnt' },
          { type: 'bind', source: ${JSON.stringify(dir)}, target: '/mnt/w', readonly: true },
        ],
      });
      console.log(JSON.stringify({ out: r.stdout, error: r.error && r.error.message }));
    `
    const r = JSON.parse(withoutMountSetattr(script, deny, path.join(dir, 'sub')).trim()) as { out: string; error?: string }
    t.is(r.error, undefined)
    const lines = r.out.trim().split('\n')
    t.deepEqual(lines.slice(0, 2), ['/mnt/w/x read-only', '/mnt/w/sub/x read-only'])
    // The bind and its submount (a tmpfs, nosuid,nodev of its own): read-only, nosuid, nodev.
    t.regex(lines.find((l) => l.startsWith('/mnt/w '))!, /^\/mnt\/w ro,nosuid,nodev/)
    t.regex(lines.find((l) => l.startsWith('/mnt/w/sub '))!, /^\/mnt\/w\/sub ro,nosuid,nodev/)
  })
}
