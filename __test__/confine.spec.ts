// spawn()'s confinement options (mounts, rootfs, capabilities, no_new_privs, seccomp, rlimits,
// umask, the pid 1 reaper), observed from inside the child with ordinary programs.
import test from 'ava'
import { spawnSync, type MountEntry, type SpawnOptions } from '../dist/index.js'

const sh = (script: string, options: SpawnOptions = {}) => spawnSync('/bin/sh', ['-c', script], { ...options, encoding: 'utf8' })

test('propagation needs a new mount namespace; unchanged cannot build a root', (t) => {
  t.throws(() => sh('true', { propagation: 'slave' }), { code: 'ERR_INVALID_ARG_VALUE', message: /needs a new mount namespace/ })
  // The root is built on a tmpfs over /tmp: with shared mounts it would stay on this host's /tmp.
  for (const o of [{ rootfs: 'tmpfs' }, { mounts: [{ type: 'file', target: '/etc/motd', data: 'x' }] as MountEntry[] }])
    t.throws(() => sh('true', { namespaces: ['mnt'], propagation: 'unchanged', ...o }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.propagation' cannot be 'unchanged' with a rootfs or file entries.*'private' or 'slave'/,
    })
})
