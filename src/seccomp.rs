//! seccomp policies by name, compiled to classic BPF for x86-64 or aarch64.
//!
//! A policy is a default action and rules tried in order: the first rule whose syscall and
//! argument conditions match decides. Every program starts by checking the audit architecture
//! (and, on x86-64, refusing the x32 ABI, whose numbers would otherwise slip past rules written
//! for x86-64), so a filter never judges a syscall by another architecture's number.
//! Syscall numbers come from the `syscalls` crate's tables, not from the machine compiling.

use napi::bindgen_prelude::Uint8Array;
use napi::Env;
use napi_derive::napi;

use crate::errors::{to_js, Failure, Outcome};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// x32 syscalls are x86-64 numbers with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// BPF_MAXINSNS: the kernel refuses longer programs.
pub const MAX_INSNS: usize = 4096;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

/// An action as the TypeScript layer normalised it.
#[napi(object)]
pub struct SeccompActionSlot {
    /// 'allow', 'kill-process', 'kill-thread', 'trap', 'log' or 'errno'.
    pub kind: String,
    /// With 'errno': the number the syscall fails with (1..4095).
    pub errno: Option<u32>,
}

/// One argument condition; values are decimal strings of unsigned 64-bit numbers.
#[napi(object)]
pub struct SeccompArgSlot {
    pub index: u32,
    /// '==', '!=', '<', '<=', '>', '>=' or '&=='.
    pub op: String,
    pub value: String,
    pub mask: Option<String>,
}

#[napi(object)]
pub struct SeccompRuleSlot {
    pub syscalls: Vec<String>,
    pub action: SeccompActionSlot,
    pub args: Vec<SeccompArgSlot>,
}

#[napi(object)]
pub struct SeccompPolicySlot {
    pub default_action: SeccompActionSlot,
    pub rules: Vec<SeccompRuleSlot>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arch {
    X64,
    Arm64,
}

impl Arch {
    pub fn native() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Arm64
        } else {
            Arch::X64
        }
    }

    fn parse(name: &str) -> Outcome<Arch> {
        match name {
            "x64" => Ok(Arch::X64),
            "arm64" => Ok(Arch::Arm64),
            other => Err(Failure::ArgValue(format!(
                "The argument 'arch' must be 'x64' or 'arm64'. Received '{}'",
                other.chars().take(28).collect::<String>()
            ))),
        }
    }

    /// The syscall's number on this architecture; None where it has no such call.
    fn number(self, name: &str) -> Option<u32> {
        match self {
            Arch::X64 => name
                .parse::<syscalls::x86_64::Sysno>()
                .ok()
                .map(|s| s.id() as u32),
            Arch::Arm64 => name
                .parse::<syscalls::aarch64::Sysno>()
                .ok()
                .map(|s| s.id() as u32),
        }
    }
}

#[derive(Clone, Copy)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// A jump offset meaning "the end of this rule's block" until the block is closed.
const TO_FAIL: u8 = u8::MAX;

fn action(a: &SeccompActionSlot, what: &str) -> Outcome<u32> {
    Ok(match a.kind.as_str() {
        "allow" => RET_ALLOW,
        "kill-process" => RET_KILL_PROCESS,
        "kill-thread" => RET_KILL_THREAD,
        "trap" => RET_TRAP,
        "log" => RET_LOG,
        "errno" => match a.errno {
            Some(e @ 1..=4095) => RET_ERRNO | e,
            other => {
                return Err(Failure::ArgRange(format!(
                    "The value of '{what}.errno' is out of range. It must be >= 1 && <= 4095. \
                     Received {}",
                    other.map_or_else(|| "undefined".into(), |e| e.to_string())
                )))
            }
        },
        other => {
            return Err(Failure::ArgValue(format!(
                "The property '{what}' must be 'allow', 'kill-process', 'kill-thread', 'trap', \
                 'log' or {{ errno }}. Received '{other}'"
            )))
        }
    })
}

fn number(s: &str, what: &str) -> Outcome<u64> {
    s.parse::<u64>().map_err(|_| {
        Failure::ArgRange(format!(
            "The value of '{what}' is out of range. It must be an integer >= 0 && < 2 ** 64 \
             (or a negative 64-bit integer, read as its two's complement). Received {s}"
        ))
    })
}

fn split(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// The instructions that fall through when the condition holds and jump to TO_FAIL when not.
fn condition(c: &SeccompArgSlot, what: &str, out: &mut Vec<Insn>) -> Outcome<()> {
    if c.index > 5 {
        return Err(Failure::ArgRange(format!(
            "The value of '{what}.index' is out of range. It must be >= 0 && <= 5. Received {}",
            c.index
        )));
    }
    let (hi_value, lo_value) = split(number(&c.value, &format!("{what}.value"))?);
    let lo = OFF_ARGS + 8 * c.index;
    let hi = lo + 4;
    // Unsigned 64-bit comparisons made of two 32-bit ones: the high words decide unless equal.
    match c.op.as_str() {
        "==" => out.extend([
            stmt(LD_W_ABS, hi),
            jump(JEQ_K, hi_value, 0, TO_FAIL),
            stmt(LD_W_ABS, lo),
            jump(JEQ_K, lo_value, 0, TO_FAIL),
        ]),
        "!=" => out.extend([
            stmt(LD_W_ABS, hi),
            jump(JEQ_K, hi_value, 0, 2),
            stmt(LD_W_ABS, lo),
            jump(JEQ_K, lo_value, TO_FAIL, 0),
        ]),
        "&==" => {
            let mask = match &c.mask {
                Some(m) => number(m, &format!("{what}.mask"))?,
                None => {
                    return Err(Failure::ArgValue(format!(
                        "The property '{what}.mask' is required with op '&=='. Received undefined"
                    )))
                }
            };
            let (hi_mask, lo_mask) = split(mask);
            out.extend([
                stmt(LD_W_ABS, hi),
                stmt(AND_K, hi_mask),
                jump(JEQ_K, hi_value, 0, TO_FAIL),
                stmt(LD_W_ABS, lo),
                stmt(AND_K, lo_mask),
                jump(JEQ_K, lo_value, 0, TO_FAIL),
            ])
        }
        ">" | ">=" => out.extend([
            stmt(LD_W_ABS, hi),
            jump(JGT_K, hi_value, 3, 0),
            jump(JEQ_K, hi_value, 0, TO_FAIL),
            stmt(LD_W_ABS, lo),
            jump(
                if c.op == ">" { JGT_K } else { JGE_K },
                lo_value,
                0,
                TO_FAIL,
            ),
        ]),
        "<" | "<=" => out.extend([
            stmt(LD_W_ABS, hi),
            jump(JGT_K, hi_value, TO_FAIL, 0),
            jump(JEQ_K, hi_value, 0, 2),
            stmt(LD_W_ABS, lo),
            // a < b is !(a >= b); a <= b is !(a > b).
            jump(
                if c.op == "<" { JGE_K } else { JGT_K },
                lo_value,
                TO_FAIL,
                0,
            ),
        ]),
        other => {
            return Err(Failure::ArgValue(format!(
                "The property '{what}.op' must be '==', '!=', '<', '<=', '>', '>=' or '&=='. \
                 Received '{}'",
                other.chars().take(28).collect::<String>()
            )))
        }
    }
    if c.op != "&==" && c.mask.is_some() {
        return Err(Failure::ArgValue(format!(
            "The property '{what}.mask' goes only with op '&=='. Received op '{}'",
            c.op
        )));
    }
    Ok(())
}

/// Patches the block's TO_FAIL jumps to its end.
fn close_block(block: &mut [Insn]) {
    let len = block.len();
    for (pc, insn) in block.iter_mut().enumerate() {
        if insn.code & 0x07 != 0x05 {
            continue;
        }
        let to_end = (len - pc - 1) as u8;
        if insn.jt == TO_FAIL {
            insn.jt = to_end;
        }
        if insn.jf == TO_FAIL {
            insn.jf = to_end;
        }
    }
}

const fn other_arch(arch: Arch) -> Arch {
    match arch {
        Arch::X64 => Arch::Arm64,
        Arch::Arm64 => Arch::X64,
    }
}

/// The policy as a BPF program for `arch`, as bytes of `struct sock_filter`.
pub fn compile(policy: &SeccompPolicySlot, arch: Arch) -> Outcome<Vec<u8>> {
    let mut prog = vec![stmt(LD_W_ABS, OFF_ARCH)];
    match arch {
        Arch::X64 => prog.extend([
            jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
            stmt(RET_K, RET_KILL_PROCESS),
            stmt(LD_W_ABS, OFF_NR),
            jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(RET_K, RET_KILL_PROCESS),
        ]),
        Arch::Arm64 => prog.extend([
            jump(JEQ_K, AUDIT_ARCH_AARCH64, 1, 0),
            stmt(RET_K, RET_KILL_PROCESS),
        ]),
    }
    let mut unknown: Vec<String> = Vec::new();
    for (r, rule) in policy.rules.iter().enumerate() {
        let what = format!("policy.rules[{r}]");
        let ret = action(&rule.action, &format!("{what}.action"))?;
        if rule.args.len() > 6 {
            return Err(Failure::ArgRange(format!(
                "The length of '{what}.args' is out of range. It must be <= 6. Received {}",
                rule.args.len()
            )));
        }
        let mut conditions = Vec::new();
        for (i, c) in rule.args.iter().enumerate() {
            condition(c, &format!("{what}.args[{i}]"), &mut conditions)?;
        }
        for name in &rule.syscalls {
            let nr = match arch.number(name) {
                Some(nr) => nr,
                // Known on the other architecture only (open, fork... on aarch64): that
                // architecture's filter has the rule, this one has nothing to check.
                None if other_arch(arch).number(name).is_some() => continue,
                None => {
                    if !unknown.contains(name) {
                        unknown.push(name.clone());
                    }
                    continue;
                }
            };
            let mut block = vec![stmt(LD_W_ABS, OFF_NR), jump(JEQ_K, nr, 0, TO_FAIL)];
            block.extend_from_slice(&conditions);
            block.push(stmt(RET_K, ret));
            close_block(&mut block);
            prog.extend(block);
        }
    }
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown.iter().take(5).map(|n| format!("'{n}'")).collect();
        let more = if unknown.len() > 5 {
            format!(" and {} more", unknown.len() - 5)
        } else {
            String::new()
        };
        return Err(Failure::ArgValue(format!(
            "The seccomp policy names {} that neither x86-64 nor aarch64 has: {}{more}",
            if unknown.len() == 1 {
                "a syscall"
            } else {
                "syscalls"
            },
            shown.join(", ")
        )));
    }
    prog.push(stmt(
        RET_K,
        action(&policy.default_action, "policy.defaultAction")?,
    ));
    if prog.len() > MAX_INSNS {
        return Err(Failure::ArgRange(format!(
            "The seccomp policy compiles to {} instructions; the kernel takes at most {MAX_INSNS} \
             (BPF_MAXINSNS): fewer rules, or rules with several syscalls and no conditions",
            prog.len()
        )));
    }
    let mut bytes = Vec::with_capacity(prog.len() * 8);
    for i in prog {
        bytes.extend_from_slice(&i.code.to_le_bytes());
        bytes.push(i.jt);
        bytes.push(i.jf);
        bytes.extend_from_slice(&i.k.to_le_bytes());
    }
    Ok(bytes)
}

/// The policy compiled for `arch` (default: this machine's), as `struct sock_filter`s.
#[napi(
    js_name = "_compileSeccomp",
    ts_args_type = "policy: SeccompPolicySlot, arch?: 'x64' | 'arm64'"
)]
pub fn compile_seccomp(
    env: Env,
    policy: SeccompPolicySlot,
    arch: Option<String>,
) -> napi::Result<Uint8Array> {
    let outcome = match arch.as_deref() {
        Some(a) => Arch::parse(a),
        None => Ok(Arch::native()),
    }
    .and_then(|arch| compile(&policy, arch));
    to_js(&env, outcome).map(Uint8Array::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(kind: &str) -> SeccompActionSlot {
        SeccompActionSlot {
            kind: kind.into(),
            errno: None,
        }
    }

    fn policy(rules: Vec<SeccompRuleSlot>) -> SeccompPolicySlot {
        SeccompPolicySlot {
            default_action: act("allow"),
            rules,
        }
    }

    fn rule(names: &[&str], args: Vec<SeccompArgSlot>) -> SeccompRuleSlot {
        SeccompRuleSlot {
            syscalls: names.iter().map(|s| s.to_string()).collect(),
            action: SeccompActionSlot {
                kind: "errno".into(),
                errno: Some(1),
            },
            args,
        }
    }

    /// A classic BPF interpreter for the instructions compile() emits.
    fn run(prog: &[u8], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let insns: Vec<Insn> = prog
            .chunks(8)
            .map(|c| Insn {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let word = |off: u32| -> u32 {
            match off {
                0 => nr,
                4 => arch,
                o if o >= 16 => {
                    let a = args[((o - 16) / 8) as usize];
                    if (o - 16) % 8 == 0 {
                        a as u32
                    } else {
                        (a >> 32) as u32
                    }
                }
                _ => 0,
            }
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = insns[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => acc = word(i.k),
                AND_K => acc &= i.k,
                RET_K => return i.k,
                JEQ_K | JGT_K | JGE_K => {
                    let hit = match i.code {
                        JEQ_K => acc == i.k,
                        JGT_K => acc > i.k,
                        _ => acc >= i.k,
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn cond(op: &str, value: u64) -> SeccompArgSlot {
        SeccompArgSlot {
            index: 1,
            op: op.into(),
            value: value.to_string(),
            mask: None,
        }
    }

    #[test]
    fn comparisons_are_unsigned_64_bit() {
        let values = [
            0u64,
            1,
            5,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0005,
            u64::MAX,
        ];
        for op in ["==", "!=", "<", "<=", ">", ">="] {
            for &k in &values {
                let prog = compile(
                    &policy(vec![rule(&["ioctl"], vec![cond(op, k)])]),
                    Arch::X64,
                )
                .expect("compiles");
                for &a in &values {
                    let want = match op {
                        "==" => a == k,
                        "!=" => a != k,
                        "<" => a < k,
                        "<=" => a <= k,
                        ">" => a > k,
                        _ => a >= k,
                    };
                    let got = run(&prog, AUDIT_ARCH_X86_64, 16, [0, a, 0, 0, 0, 0]);
                    assert_eq!(got == RET_ERRNO | 1, want, "{a:#x} {op} {k:#x}");
                }
            }
        }
    }

    #[test]
    fn masked_compare_ignores_high_bits_outside_the_mask() {
        let mut c = cond("&==", 0x5412);
        c.mask = Some("4294967295".into());
        let prog = compile(&policy(vec![rule(&["ioctl"], vec![c])]), Arch::X64).expect("compiles");
        let hit = |a: u64| run(&prog, AUDIT_ARCH_X86_64, 16, [0, a, 0, 0, 0, 0]);
        assert_eq!(hit(0x5412), RET_ERRNO | 1);
        assert_eq!(hit(0xdead_0000_0000_5412), RET_ERRNO | 1);
        assert_eq!(hit(0x5413), RET_ALLOW);
    }

    #[test]
    fn first_matching_rule_decides_and_arch_is_checked() {
        let mut allow = rule(&["clone"], vec![]);
        allow.action = act("allow");
        allow.args = vec![SeccompArgSlot {
            index: 0,
            op: "&==".into(),
            value: "0".into(),
            mask: Some(0x1000_0000u64.to_string()),
        }];
        let mut p = policy(vec![allow, rule(&["clone"], vec![])]);
        p.default_action = act("log");
        let prog = compile(&p, Arch::Arm64).expect("compiles");
        let clone = 220;
        assert_eq!(
            run(&prog, AUDIT_ARCH_AARCH64, clone, [0x11, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH_AARCH64,
                clone,
                [0x1000_0000, 0, 0, 0, 0, 0]
            ),
            RET_ERRNO | 1
        );
        assert_eq!(run(&prog, AUDIT_ARCH_AARCH64, 63, [0; 6]), RET_LOG);
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, clone, [0; 6]),
            RET_KILL_PROCESS
        );
    }

    #[test]
    fn x32_is_refused_on_x86_64() {
        let prog = compile(&policy(vec![]), Arch::X64).expect("compiles");
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 1, [0; 6]), RET_ALLOW);
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1, [0; 6]),
            RET_KILL_PROCESS
        );
    }

    #[test]
    fn names_are_per_architecture() {
        // open exists on x86-64 only: left out of the aarch64 filter, not an error.
        let p = policy(vec![rule(&["open", "openat"], vec![])]);
        let x64 = compile(&p, Arch::X64).expect("compiles");
        let arm = compile(&p, Arch::Arm64).expect("compiles");
        assert!(x64.len() > arm.len());
        assert_eq!(run(&arm, AUDIT_ARCH_AARCH64, 56, [0; 6]), RET_ERRNO | 1);
        match compile(
            &policy(vec![rule(&["openat", "nosuchcall"], vec![])]),
            Arch::X64,
        ) {
            Err(Failure::ArgValue(m)) => assert!(m.contains("'nosuchcall'"), "{m}"),
            _ => panic!("an unknown name must be refused"),
        }
    }
}
