'use strict'
// Smoke test of the package in any JavaScript runtime that implements Node-API: Node, Bun, Deno.
//
//   node scripts/runtime-smoke.cjs [package dir | file.node]      (default: this checkout)
//   bun scripts/runtime-smoke.cjs
//   deno run -A scripts/runtime-smoke.cjs
//
// Loads the package as users do (dist/index.js over the generated loader, which picks the
// binary), or one .node file directly. scripts/runtimes.sh runs it in each runtime.
// Needs root for the namespace checks. Exports that other parts of the package add later
// (spawn, spawnSync, the namespace toolkit) are checked when present and skipped with a reason
// when not. Prints one line per check and ends with `N passed, N failed`.

const fs = require('fs')
const os = require('os')
const path = require('path')

// A package directory, or one .node file to load directly (past the loader's checks).
const target = path.resolve(process.argv[2] || path.join(__dirname, '..'))
const direct = target.endsWith('.node')
const pkg = direct ? path.dirname(target) : target
let passed = 0
let failed = 0
function report(ok, name, detail) {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${detail ? ` (${detail})` : ''}`)
  return ok
}
function check(name, fn) {
  try {
    return report(true, name, fn())
  } catch (e) {
    return report(false, name, `${e && e.message ? e.message : e}${e && e.code ? ` [${e.code}]` : ''}`)
  }
}
async function checkAsync(name, fn) {
  try {
    return report(true, name, await fn())
  } catch (e) {
    return report(false, name, `${e && e.message ? e.message : e}${e && e.code ? ` [${e.code}]` : ''}`)
  }
}
function skip(name, why) {
  console.log(`skip - ${name}: ${why}`)
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

function runtime() {
  if (typeof Bun !== 'undefined') return `Bun ${Bun.version}`
  if (typeof Deno !== 'undefined') return `Deno ${Deno.version.deno}`
  return `Node ${process.version}`
}
function libc() {
  let header
  try {
    header = process.report && process.report.getReport && process.report.getReport().header
  } catch {
    header = undefined
  }
  if (header && header.glibcVersionRuntime) return `glibc ${header.glibcVersionRuntime}`
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8')
    if (/ld-musl|libc\.musl/.test(maps)) return 'musl'
    if (/libc[.-]/.test(maps)) return 'glibc (version not reported)'
  } catch {}
  return 'unknown libc'
}
const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
console.log(
  `# ${runtime()} ${process.platform}-${process.arch}, ${libc()}, uid ${process.getuid()}, package ${pkg}` +
    (override ? `, binary ${override}` : ''),
)

let lc
const entry = direct ? target : fs.existsSync(path.join(pkg, 'dist/index.js')) ? path.join(pkg, 'dist/index.js') : path.join(pkg, 'index.js')
if (!check('load the package', () => {
  lc = require(entry)
  const maps = fs.readFileSync('/proc/self/maps', 'utf8')
  const binary = (/\S+\.node$/m.exec(maps) || ['no .node file mapped'])[0]
  return `${Object.keys(lc).length} exports from ${path.relative(pkg, entry)}, binary ${path.basename(binary)}`
})) finish()

// Every value export the type declarations promise is there at run time: the names declared in
// the entry's .d.ts and in every file it re-exports with `export * from` (the TypeScript layer
// in dist/, the binding's index.d.ts).
function declaredExports(dts, seen = new Set()) {
  const names = new Set()
  if (seen.has(dts) || !fs.existsSync(dts)) return names
  seen.add(dts)
  const text = fs.readFileSync(dts, 'utf8')
  for (const m of text.matchAll(/^export declare (?:const|let|var|function|class|enum) (\w+)/gm)) names.add(m[1])
  for (const m of text.matchAll(/^export \{([^}]*)\}/gm)) {
    for (const part of m[1].split(',')) {
      const name = part.trim().split(/\s+as\s+/).pop()
      if (name && !/^type\s/.test(part.trim())) names.add(name)
    }
  }
  for (const m of text.matchAll(/^export \* from ['"](.+)['"]/gm)) {
    const next = path.resolve(path.dirname(dts), m[1].replace(/\.js$/, '.d.ts'))
    for (const n of declaredExports(next, seen)) names.add(n)
  }
  return names
}
check('every declared export is present', () => {
  const top = direct ? path.join(pkg, 'index.d.ts') : entry.replace(/\.js$/, '.d.ts')
  const names = declaredExports(top)
  assert(names.size > 0, `no declarations found from ${top}`)
  // The loader adds __napiBindingTarget; a .node file loaded directly has no loader.
  const missing = [...names].filter((n) => !(n in lc) && !(direct && n.startsWith('__napi')))
  assert(missing.length === 0, `missing: ${missing.join(', ')}`)
  return `${names.size} names`
})
check('constants: NEWUTS 0x04000000, NEWNET 0x40000000, SIGCHLD 17', () => {
  assert(lc.NEWUTS === 0x04000000 && lc.NEWNET === 0x40000000 && lc.SIGCHLD === 17, `${lc.NEWUTS} ${lc.NEWNET} ${lc.SIGCHLD}`)
})

// glibc before 2.25 caches the pid and tid in the thread control block, and its clone() wrapper
// overwrites them in the caller when CLONE_VM is set; raise() uses them. The package enters its
// children through a trampoline of its own; this checks, through the runtime's FFI (Node has
// none), that the cache survives. First of the clone() checks: one clone() would spoil it.
const glibc = /^glibc \d/.test(libc())
const ffiRaise = (() => {
  if (!glibc) return undefined
  if (typeof Bun !== 'undefined') {
    return require('bun:ffi').dlopen('libc.so.6', { raise: { args: ['i32'], returns: 'i32' } }).symbols.raise
  }
  if (typeof Deno !== 'undefined') {
    return Deno.dlopen('libc.so.6', { raise: { parameters: ['i32'], result: 'i32' } }).symbols.raise
  }
  return undefined
})()
if (ffiRaise) {
  check("after clone(), glibc's raise(0) still works in the parent (its cached pid and tid are intact)", () => {
    const before = ffiRaise(0)
    lc.waitpid(lc.clone(() => 0, 0, lc.SIGCHLD))
    const after = ffiRaise(0)
    assert(before === 0 && after === 0, `raise(0) was ${before} before clone() and ${after} after`)
  })
} else {
  skip("glibc's raise(0) after clone()", glibc ? 'no FFI in this runtime' : 'not glibc')
}

// unshare(NEWUTS) moves the calling (main) thread only; setns() through a saved fd moves it back.
const host = os.hostname()
const utsLink = '/proc/thread-self/ns/uts'
const utsBefore = fs.readlinkSync(utsLink)
const name = `lc-rt-${process.pid}`
const saved = fs.openSync(utsLink, 'r')
if (check('unshare(NEWUTS): a new UTS namespace, its own hostname', () => {
  lc.unshare(lc.NEWUTS)
  assert(fs.readlinkSync(utsLink) !== utsBefore, 'still in the old namespace')
  fs.writeFileSync('/proc/sys/kernel/hostname', name)
  assert(os.hostname() === name, `os.hostname() is ${os.hostname()}`)
  return `${utsBefore} -> ${fs.readlinkSync(utsLink)}`
})) {
  check('setns(fd, NEWUTS) back: the old namespace and hostname', () => {
    lc.setns(saved, lc.NEWUTS)
    assert(fs.readlinkSync(utsLink) === utsBefore, 'namespace link differs')
    assert(os.hostname() === host, `os.hostname() is ${os.hostname()}`)
  })
}
fs.closeSync(saved)

// clone(): the callback runs in the child, on this heap (CLONE_VM), before clone() returns.
check('clone(cb, 0, SIGCHLD): status 7, and the parent sees what the child wrote', () => {
  const seen = { pid: 0 }
  const pid = lc.clone(() => {
    seen.pid = lc.getpid()
    return 7
  }, 0, lc.SIGCHLD)
  const r = lc.waitpid(pid)
  assert(r && r.pid === pid && r.exitCode === 7 && r.signal === null, `waitpid gave ${JSON.stringify(r)}`)
  assert(seen.pid === pid, `the child wrote ${seen.pid}, its pid is ${pid}`)
  return `pid ${pid}`
})
check('clone(NEWPID | NEWUTS): the child is pid 1 with its own hostname', () => {
  let seen = ''
  const pid = lc.clone(() => {
    fs.writeFileSync('/proc/sys/kernel/hostname', name)
    seen = `${lc.getpid()} ${os.hostname()}`
  }, 0, lc.NEWPID | lc.NEWUTS | lc.SIGCHLD)
  const r = lc.waitpid(pid)
  assert(r && r.exitCode === 0, `waitpid gave ${JSON.stringify(r)}`)
  assert(seen === `1 ${name}`, `the child saw ${seen}`)
  assert(os.hostname() === host, `the parent's hostname is ${os.hostname()}`)
  return seen
})
// The first Error this process formats, in a child: Bun starts threads for its formatter then,
// which the child's exit_group must end with it (a single-thread exit left status 0).
check('clone(): a throw in the callback is status 1 (the child prints it to stderr)', () => {
  const pid = lc.clone(() => {
    throw new Error('thrown on purpose by runtime-smoke')
  }, 0, lc.SIGCHLD)
  const r = lc.waitpid(pid)
  assert(r && r.exitCode === 1, `waitpid gave ${JSON.stringify(r)}`)
})
check('clone(): process.exit(5) in the callback is status 5; process.exit is the same function afterwards', () => {
  const exit = process.exit
  const pid = lc.clone(() => process.exit(5), 0, lc.SIGCHLD)
  const r = lc.waitpid(pid)
  assert(r && r.exitCode === 5, `waitpid gave ${JSON.stringify(r)}`)
  assert(process.exit === exit, 'process.exit was not restored')
})
check("clone(): execve('/bin/sh', ['sh', '-c', 'exit 9']) is status 9", () => {
  const pid = lc.clone(() => lc.execve('/bin/sh', ['sh', '-c', 'exit 9']), 0, lc.SIGCHLD)
  const r = lc.waitpid(pid)
  assert(r && r.exitCode === 9, `waitpid gave ${JSON.stringify(r)}`)
})
check('waitpid(WNOHANG) is null while the child runs; a SIGKILL is reported by name', () => {
  const pid = lc.clone(() => lc.execve('/bin/sh', ['sh', '-c', 'sleep 30']), 0, lc.SIGCHLD)
  const early = lc.waitpid(pid, lc.WNOHANG)
  process.kill(pid, 'SIGKILL')
  const r = lc.waitpid(pid)
  assert(early === null, `WNOHANG gave ${JSON.stringify(early)}`)
  assert(r && r.exitCode === null && r.signal === 'SIGKILL', `waitpid gave ${JSON.stringify(r)}`)
})

if (typeof Deno !== 'undefined') {
  skip('execSync() after unshare(NEWPID) inside a clone() callback', "Deno starts a thread for it, which the kernel refuses (EINVAL) once the caller's pid namespace for children differs from its own; Deno panics and the parent takes the fatal path")
}

// Errors are shaped as Node's: code, negative errno, syscall, a message naming call and cause.
check('error shape: setns(-1) is EBADF with errno, syscall and message', () => {
  let err
  try {
    lc.setns(-1, lc.NEWNET)
  } catch (e) {
    err = e
  }
  assert(err instanceof Error, `no Error thrown (${err})`)
  assert(err.code === 'EBADF' && err.errno === -9 && err.syscall === 'setns', `${err.code} ${err.errno} ${err.syscall}`)
  assert(/setns/.test(err.message), err.message)
  return err.message
})
check('error shape: unshare("NEWNET") is a TypeError ERR_INVALID_ARG_TYPE', () => {
  let err
  try {
    lc.unshare('NEWNET')
  } catch (e) {
    err = e
  }
  assert(err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE', `${err && err.name} ${err && err.code}`)
})
check('error shape: waitpid(-1) with no children is ECHILD', () => {
  let err
  try {
    lc.waitpid(-1, lc.WNOHANG)
  } catch (e) {
    err = e
  }
  assert(err && err.code === 'ECHILD' && err.syscall === 'waitpid', `${err && err.code} ${err && err.syscall}`)
})

// Parts that are added alongside this script: checked once they are exported.
if (typeof lc.spawnSync === 'function') {
  check("spawnSync('/bin/sh', ['-c', 'exit 3'], { namespaces: ['uts'] }) has status 3", () => {
    const r = lc.spawnSync('/bin/sh', ['-c', 'exit 3'], { namespaces: ['uts'] })
    assert(r && r.status === 3, `gave ${JSON.stringify(r && { status: r.status, signal: r.signal, error: r.error && r.error.message })}`)
  })
  // Confinement in this runtime and C library: mounts on the current tree, no capabilities,
  // no_new_privs, an allow-all seccomp filter, a limit, and a reaper trimming its copy of the
  // memory. The roots runtimes.sh makes are chroots (which pivot_root cannot leave, where "/" is
  // no mount point and user namespaces are refused) inside `unshare --mount --propagation
  // private`: there the mounts around are private, which propagation 'unchanged' says.
  const chroot = !fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === '/')
  check('spawnSync confined: mounts, capabilities, no_new_privs, seccomp, rlimits, reaper', () => {
    const allow = Buffer.alloc(8)
    allow.writeUInt16LE(0x06, 0) // BPF_RET | BPF_K
    allow.writeUInt32LE(0x7fff0000, 4) // SECCOMP_RET_ALLOW
    const script = 'echo $$; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t" " "; ulimit -n; touch /tmp/ro/x 2>/dev/null || echo read-only; sleep 1; grep -c . /proc/1/maps'
    const r = lc.spawnSync('/bin/sh', ['-c', script], {
      namespaces: ['mnt', 'pid'],
      propagation: chroot ? 'unchanged' : 'private',
      cwd: '/',
      mounts: [
        { type: 'tmpfs', target: '/tmp' },
        { type: 'bind', source: '/bin', target: '/tmp/ro', readonly: true },
        { type: 'proc' },
      ],
      capabilities: {},
      noNewPrivs: true,
      seccomp: allow,
      rlimits: { nofile: { soft: 64 } },
      pidns: { init: 'reaper' },
      encoding: 'utf8',
    })
    const out = (r.stdout || '').trim().split('\n')
    const expected = ['2', 'CapEff: 0000000000000000', 'NoNewPrivs: 1', 'Seccomp: 2', '64', 'read-only']
    assert(r.status === 0 && JSON.stringify(out.slice(0, 6)) === JSON.stringify(expected), `gave ${JSON.stringify({ status: r.status, out, err: r.stderr, error: r.error && r.error.message })}`)
    assert(Number(out[6]) < 40, `pid 1 has ${out[6]} mappings`)
  })
} else {
  skip('spawnSync()', 'not exported by this build')
}
if (typeof lc.openNamespace === 'function') {
  check("openNamespace(process.pid, 'net').id is the id of /proc/self/ns/net", () => {
    const ns = lc.openNamespace(process.pid, 'net')
    try {
      // The id is the namespace file's inode, alone or with its device ({ dev, ino }).
      const st = fs.statSync('/proc/self/ns/net', { bigint: true })
      const id = ns.id
      const same =
        id !== null && typeof id === 'object'
          ? BigInt(id.ino) === st.ino && (id.dev === undefined || BigInt(id.dev) === st.dev)
          : BigInt(id) === st.ino
      const shown = (v) => JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? String(x) : x))
      assert(same, `id ${shown(id)}, /proc/self/ns/net is dev ${st.dev} ino ${st.ino}`)
      return `ino ${st.ino}`
    } finally {
      if (ns && typeof ns.close === 'function') ns.close()
    }
  })
} else {
  skip('openNamespace()', 'not exported by this build')
}
for (const f of ['spawn', 'inNamespaces']) {
  if (typeof lc[f] !== 'function') skip(`${f}()`, 'not exported by this build')
}

// waitExit() waits on a thread of its own and resolves on this event loop.
checkAsync('waitExit(): resolves with the exit code of a clone() child', async () => {
  const pid = lc.clone(() => lc.execve('/bin/sh', ['sh', '-c', 'sleep 0.1; exit 4']), 0, lc.SIGCHLD)
  const r = await lc.waitExit(pid)
  assert(r && r.pid === pid && r.exitCode === 4, `gave ${JSON.stringify(r)}`)
}).then(finish)
