// The package's entry: the typed native binding and the TypeScript layer over it. Each concern
// has its own module; this file only gathers them, one line each.
export * from './native.js'
export * from './clone.js'
export * from './spawn.js'
export * from './toolkit.js'
export * from './sandbox.js'
export { Forward, type ForwardOptions, type ForwardTarget, type SpawnForward } from './forward.js'
export { CAPABILITIES, type CapName, type MountEntry, type CapabilityOptions, type RlimitValue, type RlimitName, type PathLike, type ConfinementOptions, type Confinement, type LandlockOptions, type LandlockScope, type RawRightName } from './confine.js'
export { seccompPresets, type SeccompPolicy, type SeccompRule, type SeccompAction, type SeccompArgCondition, type SeccompArch } from './seccomp.js'
export { fromBwrap, BwrapOptionError, type FromBwrap } from './bwrap.js'
