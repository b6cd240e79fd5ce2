// Forwarded ports: a listening socket inside a sandbox's or a spawned program's network
// namespace, made there by a process that is in it (no thread of this process changes
// namespace), served by this process's event loop.
import { EventEmitter } from 'node:events'
import { createConnection, isIPv4, Server, type Socket } from 'node:net'

import { coded, typeError } from './errors.js'

/** Where a forwarded port's connections go on this side: a TCP address or a unix socket. */
export type ForwardTarget =
  | {
      /** The address to connect to (default '127.0.0.1'). */
      readonly host?: string
      /** The TCP port to connect to. */
      readonly port: number
    }
  | {
      /** The unix socket to connect to. */
      readonly path: string
    }

/** A port inside the sandbox, and who may use it. */
export interface ForwardOptions {
  /** The port to listen on inside the sandbox's network namespace. */
  port: number
  /** The address inside (default '127.0.0.1': the sandbox's lo). */
  host?: string
  /** Decides each connection (the peer is inside): false resets it, as a refused connection. */
  allow?: (peer: { remoteAddress: string; remotePort: number }) => boolean | Promise<boolean>
  /** listen(2)'s backlog (default 511, as Node's). */
  backlog?: number
}

/** A forwarded port of spawn()'s `forwards`: where to listen inside, and where its
 * connections go here (without `target`, the Forward's 'connection' events). */
export interface SpawnForward extends ForwardOptions {
  /** Where each connection is piped to on this side. */
  target?: ForwardTarget
}

/** A forward's options, checked: the address as a number, as the native side takes it. */
export interface CheckedForward {
  host: string
  port: number
  addr: number
  backlog: number
  allow: ForwardOptions['allow']
  target: ForwardTarget | undefined
}

function portError(name: string, value: unknown): RangeError {
  return coded(new RangeError(`The value of "${name}" is out of range. It must be >= 1 && <= 65535. Received ${String(value)}`), 'ERR_OUT_OF_RANGE')
}

const isPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535

/** Checks a forward's options and target; `name` and `targetName` name them in errors. */
export function checkForward(options: unknown, target: unknown, name: string, targetName: string): CheckedForward {
  if (typeof options !== 'object' || options === null) throw typeError(name, 'of type object', options)
  const o = options as ForwardOptions
  if (!isPort(o.port)) throw portError(`${name}.port`, o.port)
  const host = o.host ?? '127.0.0.1'
  if (typeof host !== 'string' || !isIPv4(host)) {
    const shown = typeof host === 'string' ? `'${host}'` : String(host)
    throw coded(new TypeError(`The property '${name}.host' must be an IPv4 address. Received ${shown}`), 'ERR_INVALID_ARG_VALUE')
  }
  if (o.allow !== undefined && typeof o.allow !== 'function') throw typeError(`${name}.allow`, 'of type function', o.allow)
  const backlog = o.backlog ?? 511
  if (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 0 || backlog > 2 ** 31 - 1)
    throw coded(new RangeError(`The value of "${name}.backlog" is out of range. It must be an integer >= 0. Received ${String(backlog)}`), 'ERR_OUT_OF_RANGE')
  if (target !== undefined) {
    if (typeof target !== 'object' || target === null) throw typeError(targetName, 'of type object', target)
    const t = target as { path?: unknown; port?: unknown; host?: unknown }
    if ('path' in t) {
      if (typeof t.path !== 'string') throw typeError(`${targetName}.path`, 'of type string', t.path)
    } else {
      if (!isPort(t.port)) throw portError(`${targetName}.port`, t.port)
      if (t.host !== undefined && typeof t.host !== 'string') throw typeError(`${targetName}.host`, 'of type string', t.host)
    }
  }
  const addr = host.split('.').reduce((a, b) => a * 256 + Number(b), 0)
  return { host, port: o.port, addr, backlog, allow: o.allow, target: target as ForwardTarget | undefined }
}

/**
 * A listening socket inside a sandbox's (or a spawned program's) network namespace, served by
 * this process's event loop: each connection is piped to the target, or emitted as 'connection' without one.
 */
export class Forward extends EventEmitter {
  /** The port inside the sandbox. */
  readonly port: number
  /** The address inside the sandbox. */
  readonly host: string
  /** The server accepting the connections (its socket lives in the sandbox's namespace). */
  readonly server: Server
  #open = new Set<Socket>()
  #closed: Promise<void> | undefined
  #onClose: () => void

  /** @internal */
  static _create(fd: number, f: CheckedForward, onClose: () => void): Forward {
    return new Forward(fd, f.host, f.port, f.target, f.allow, onClose)
  }

  private constructor(fd: number, host: string, port: number, target: ForwardTarget | undefined, allow: ForwardOptions['allow'], onClose: () => void) {
    super()
    this.port = port
    this.host = host
    this.#onClose = onClose
    this.server = new Server((socket) => this.#accept(socket, target, allow))
    this.server.on('error', (err) => this.#error(err))
    this.server.listen({ fd })
  }

  /** 'error' for whoever listens; without a listener it must not throw into the event loop. */
  #error(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  /** Connections open now (both sides counted once). */
  get connections(): number {
    return this.#open.size
  }

  async #accept(socket: Socket, target: ForwardTarget | undefined, allow: ForwardOptions['allow']): Promise<void> {
    this.#open.add(socket)
    socket.once('close', () => this.#open.delete(socket))
    socket.on('error', () => socket.destroy())
    if (allow) {
      let ok = false
      try {
        ok = (await allow({ remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 })) === true
      } catch (err) {
        this.#error(err)
      }
      if (!ok) {
        socket.resetAndDestroy()
        return
      }
    }
    if (!target) {
      if (this.listenerCount('connection') === 0) socket.resetAndDestroy()
      else this.emit('connection', socket)
      return
    }
    const upstream = 'path' in target ? createConnection(target.path) : createConnection(target.port, target.host ?? '127.0.0.1')
    upstream.on('error', () => socket.resetAndDestroy())
    socket.on('close', () => upstream.destroy())
    upstream.on('close', () => socket.destroy())
    socket.pipe(upstream).pipe(socket)
  }

  /** Stops listening and ends every connection. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#onClose()
      // Each open socket has yet to emit 'close' (it leaves #open then): wait for it too, as a
      // runtime may call the server's close callback first (Bun).
      const ended = [...this.#open].map((s) => new Promise<void>((done) => s.once('close', () => done())))
      for (const s of this.#open) s.destroy()
      const listening = new Promise<void>((done) => this.server.close(() => done()))
      void Promise.all([listening, ...ended]).then(() => resolve())
    })
    return this.#closed
  }

  /** close(), for `await using forward = sandbox.forward(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

