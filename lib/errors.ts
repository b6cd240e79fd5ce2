// Node-shaped argument errors shared by the sandbox and its forwards: `code` as Node's own.

/** `e` with Node's `code` property. */
export function coded<E extends Error>(e: E, code: string): E {
  Object.defineProperty(e, 'code', { value: code, enumerable: true, writable: true, configurable: true })
  return e
}

/** ERR_INVALID_ARG_TYPE for the argument `name`. */
export function typeError(name: string, expected: string, value: unknown): TypeError {
  return coded(new TypeError(`The "${name}" argument must be ${expected}. Received ${value === null ? 'null' : typeof value}`), 'ERR_INVALID_ARG_TYPE')
}
