// Every ```js and ```ts block of README.md and docs/**/*.md (the generated docs/api aside), run
// as a user would run it: written to a file of its own in a directory where
// `import ... from 'linux-clone'` is this repository's build, run in a node process of its own
// (tsx for TypeScript), as root, expected to exit 0 within 10 s. A block marked `js fragment` /
// `ts fragment` is not meant to run and is counted; `needs=cmd,cmd` in the info string skips a
// block, with the reason, where a command is missing. sh, console and text blocks are not run.
import test from 'ava'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative } from 'node:path'
import { isRoot, root } from './_helpers.js'

interface Block {
  file: string
  line: number
  lang: 'js' | 'ts' | 'other'
  fragment: boolean
  needs: string[]
  code: string
}

/** The markdown files whose blocks are checked. */
function markdownFiles(): string[] {
  const files = [join(root, 'README.md')]
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) {
        if (path !== join(root, 'docs', 'api')) walk(path)
      } else if (entry.name.endsWith('.md')) files.push(path)
    }
  }
  if (existsSync(join(root, 'docs'))) walk(join(root, 'docs'))
  return files
}

/** The fenced code blocks of a markdown file, with the line of their opening fence. */
function blocks(file: string, text: string): Block[] {
  const found: Block[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!)
    if (!open) continue
    const fence = open[1]!
    const words = open[2]!.trim().split(/\s+/).filter(Boolean)
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(lines[j]!)
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break
      body.push(lines[j]!)
    }
    const first = (words[0] ?? '').toLowerCase()
    const lang = ['js', 'javascript', 'mjs'].includes(first) ? 'js' : ['ts', 'typescript', 'mts'].includes(first) ? 'ts' : 'other'
    const needs = words.filter((w) => w.startsWith('needs=')).flatMap((w) => w.slice(6).split(',').filter(Boolean))
    found.push({ file, line: i + 1, lang, fragment: words.includes('fragment'), needs, code: body.join('\n') + '\n' })
    i = j
  }
  return found
}

const onPath = (cmd: string): boolean => (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, cmd)))

// A directory where 'linux-clone' resolves to this repository, as it does for an installed package.
const work = mkdtempSync(join(tmpdir(), 'lc-docs-'))
mkdirSync(join(work, 'node_modules'))
symlinkSync(root, join(work, 'node_modules', 'linux-clone'), 'dir')
// tsx, for the TypeScript blocks: `--import=tsx` resolves from the working directory.
symlinkSync(join(root, 'node_modules', 'tsx'), join(work, 'node_modules', 'tsx'), 'dir')
test.after.always(() => rmSync(work, { recursive: true, force: true }))

// Two blocks at a time: the machine is shared, and each block is a node process of its own.
let running = 0
const queue: (() => void)[] = []
async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => queue.push(resolve))
  running++
  try {
    return await f()
  } finally {
    running--
    queue.shift()?.()
  }
}

function run(file: string, lang: 'js' | 'ts'): Promise<{ status: number | null; signal: string | null; out: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const args = lang === 'ts' ? ['--import=tsx', file] : [file]
    const child = spawn(process.execPath, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, 10_000)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, out, timedOut })
    })
  })
}

const all = markdownFiles().flatMap((file) => blocks(relative(root, file), readFileSync(file, 'utf8')))
const code = all.filter((b) => b.lang !== 'other')
const fragments = code.filter((b) => b.fragment)
const runnable = code.filter((b) => !b.fragment)
console.log(
  `docs: ${all.length} code blocks in ${new Set(all.map((b) => b.file)).size} files; ${runnable.length} js/ts blocks run, ` +
    `${fragments.length} fragments skipped, ${all.length - code.length} sh/console/text blocks not run`,
)

for (const block of runnable) {
  const title = `${block.file}:${block.line}`
  const missing = block.needs.filter((cmd) => !onPath(cmd))
  const why = !isRoot
    ? 'the documentation examples run as root'
    : 'bun' in process.versions
      ? 'the documentation describes Node.js (its threadpool, its Workers): its examples are checked under Node'
      : missing.length
        ? `needs ${missing.join(', ')}, not installed here`
        : undefined
  if (why) {
    console.log(`skipping ${title}: ${why}`)
    test.skip(title, () => {})
    continue
  }
  test(title, async (t) => {
    const file = join(work, `${block.file.replace(/[^\w.-]+/g, '_')}_${block.line}.${block.lang === 'ts' ? 'mts' : 'mjs'}`)
    writeFileSync(file, block.code)
    const result = await slot(() => run(file, block.lang as 'js' | 'ts'))
    t.false(result.timedOut, `${title} did not finish within 10 s:\n${result.out}`)
    t.is(result.status, 0, `${title} exited with ${result.status ?? result.signal}:\n${result.out}`)
  })
}

test('README.md is a front page: at most 300 lines, with the commands CI depends on', (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  t.true(readme.split('\n').length <= 300, `README.md has ${readme.split('\n').length} lines`)
  t.true(readme.includes('npm install && npm run demo'))
  t.true(readme.includes('npm test'))
})

// The TypeScript blocks are also type-checked, as a user's strict project would check them.
const typed = runnable.filter((b) => b.lang === 'ts')
;(typed.length && !('bun' in process.versions) ? test : test.skip)('the ts blocks type-check (tsc --strict)', async (t) => {
  const dir = join(work, 'typecheck')
  mkdirSync(dir, { recursive: true })
  const files = typed.map((b) => {
    const file = join(dir, `${b.file.replace(/[^\w.-]+/g, '_')}_${b.line}.mts`)
    writeFileSync(file, b.code)
    return file
  })
  const compilerOptions = {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
    skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
  }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }))
  const result = await new Promise<{ status: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: work })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.on('close', (status) => resolve({ status, out }))
  })
  t.is(result.status, 0, result.out)
})

// Guides written on other branches, linked from here before they land: a missing one is logged.
const pending = new Set<string>()

test('relative links in README.md and docs/ lead to files and headings that exist', (t) => {
  const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')
  const headings = (file: string) => new Set([...readFileSync(file, 'utf8').matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]!)))
  for (const file of markdownFiles()) {
    const text = readFileSync(file, 'utf8').replace(/```[^]*?```/g, '')
    for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(link!)) continue
      const [path, fragment] = link!.split('#') as [string, string | undefined]
      const target = path ? join(dirname(file), path) : file
      const where = `${relative(root, file)}: ${link}`
      if (!existsSync(target)) {
        if (pending.has(relative(root, target))) t.log(`${where}: not here yet (written on another branch)`)
        else t.fail(`${where}: no such file`)
        continue
      }
      if (fragment && target.endsWith('.md')) t.true(headings(target).has(fragment), `${where}: no such heading`)
    }
  }
})

test('the block extractor finds fences, languages, fragments and needs', (t) => {
  const found = blocks('x.md', ['a', '```js', 'run()', '```', '```ts fragment', 'x', '```', '````sh', '```', '````', '```js needs=ip,bwrap', 'y', '```'].join('\n'))
  t.deepEqual(
    found.map((b) => [b.line, b.lang, b.fragment, b.needs.join(','), b.code]),
    [
      [2, 'js', false, '', 'run()\n'],
      [5, 'ts', true, '', 'x\n'],
      [8, 'other', false, '', '```\n'],
      [11, 'js', false, 'ip,bwrap', 'y\n'],
    ],
  )
})
