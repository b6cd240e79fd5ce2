//! Argument checks with Node's own error codes and wording, so that a wrong argument is a
//! TypeError or RangeError the caller can recognise, never a silent truncation.

use napi::bindgen_prelude::{JsObjectValue, Object, ValueType};
use napi::{JsValue, Unknown};

use crate::errors::{Failure, Outcome};

/// Flags are 32-bit: JS `|` makes them signed, so both readings are accepted.
const FLAGS_MIN: f64 = -2_147_483_648.0;
const FLAGS_END: f64 = 4_294_967_296.0;

/// A flags argument: any integer in [-2^31, 2^32), read as u32.
pub fn flags(value: &Unknown, name: &str) -> Outcome<u32> {
    let n = whole_number(value, name)?;
    if !(FLAGS_MIN..FLAGS_END).contains(&n) {
        return Err(Failure::ArgRange(format!(
            "The value of \"{name}\" is out of range. It must be >= -2147483648 && < 4294967296. Received {}",
            js_number(n)
        )));
    }
    // Both casts are exact: n is an integer in range, and i64 -> u32 keeps the low 32 bits.
    Ok((n as i64) as u32)
}

/// An optional flags argument: undefined (or left out) means `default`; null is a TypeError.
pub fn opt_flags(value: &Unknown, name: &str, default: u32) -> Outcome<u32> {
    if is_undefined(value) {
        return Ok(default);
    }
    flags(value, name)
}

/// An integer argument in `[min, max]`.
pub fn integer(value: &Unknown, name: &str, min: i64, max: i64) -> Outcome<i64> {
    let n = whole_number(value, name)?;
    if n < min as f64 || n > max as f64 {
        return Err(Failure::ArgRange(format!(
            "The value of \"{name}\" is out of range. It must be >= {min} && <= {max}. Received {}",
            js_number(n)
        )));
    }
    Ok(n as i64)
}

/// An optional integer argument: undefined (or left out) means `default`.
pub fn opt_integer(value: &Unknown, name: &str, min: i64, max: i64, default: i64) -> Outcome<i64> {
    if is_undefined(value) {
        return Ok(default);
    }
    integer(value, name, min, max)
}

/// A file descriptor: a number, or an object with a numeric `fd` such as a FileHandle from
/// `node:fs/promises`. Negative values go to the kernel, which answers EBADF.
pub fn fd(value: &Unknown, name: &str) -> Outcome<i32> {
    let fd = match value.get_type() {
        Ok(ValueType::Object) => {
            // SAFETY: the type was checked just above.
            let obj = unsafe { value.cast::<Object>() }.map_err(|_| fd_type_error(value, name))?;
            match obj.get_named_property::<Unknown>("fd") {
                Ok(inner) if inner.get_type().ok() == Some(ValueType::Number) => inner,
                _ => return Err(fd_type_error(value, name)),
            }
        }
        Ok(ValueType::Number) => *value,
        _ => return Err(fd_type_error(value, name)),
    };
    Ok(integer(&fd, name, i32::MIN.into(), i32::MAX.into())? as i32)
}

/// A path: a string without NUL bytes.
pub fn path(value: &Unknown, name: &str) -> Outcome<String> {
    if value.get_type().ok() != Some(ValueType::String) {
        return Err(Failure::ArgType(format!(
            "The \"{name}\" argument must be of type string. {}",
            received(value)
        )));
    }
    // SAFETY: the type was checked just above.
    let s = unsafe { value.cast::<String>() }
        .map_err(|e| Failure::ArgValue(format!("The argument '{name}' could not be read: {e}")))?;
    if s.contains('\0') {
        return Err(Failure::ArgValue(format!(
            "The argument '{name}' must be a string without null bytes. Received {s:?}"
        )));
    }
    Ok(s)
}

pub fn is_undefined(value: &Unknown) -> bool {
    matches!(value.get_type(), Ok(ValueType::Undefined))
}

fn number(value: &Unknown, name: &str) -> Outcome<f64> {
    if value.get_type().ok() != Some(ValueType::Number) {
        return Err(Failure::ArgType(format!(
            "The \"{name}\" argument must be of type number. {}",
            received(value)
        )));
    }
    // SAFETY: the type was checked just above.
    unsafe { value.cast::<f64>() }
        .map_err(|_| Failure::ArgType(format!("The \"{name}\" argument must be of type number")))
}

/// A number without a fractional part (NaN and the infinities have none to check, so they fail).
fn whole_number(value: &Unknown, name: &str) -> Outcome<f64> {
    let n = number(value, name)?;
    if n.fract() != 0.0 || !n.is_finite() {
        return Err(Failure::ArgRange(format!(
            "The value of \"{name}\" is out of range. It must be an integer. Received {}",
            js_number(n)
        )));
    }
    Ok(n)
}

fn fd_type_error(value: &Unknown, name: &str) -> Failure {
    Failure::ArgType(format!(
        "The \"{name}\" argument must be of type number or an instance of FileHandle. {}",
        received(value)
    ))
}

/// The tail of Node's ERR_INVALID_ARG_TYPE message: what was passed.
pub fn received(value: &Unknown) -> String {
    // SAFETY (all casts below): each matches the type just read.
    match value.get_type() {
        Ok(ValueType::Undefined) => "Received undefined".into(),
        Ok(ValueType::Null) => "Received null".into(),
        Ok(ValueType::Number) => match unsafe { value.cast::<f64>() } {
            Ok(n) => format!("Received type number ({})", js_number(n)),
            Err(_) => "Received type number".into(),
        },
        Ok(ValueType::Boolean) => match unsafe { value.cast::<bool>() } {
            Ok(b) => format!("Received type boolean ({b})"),
            Err(_) => "Received type boolean".into(),
        },
        Ok(ValueType::String) => match unsafe { value.cast::<String>() } {
            Ok(s) => {
                let short: String = s.chars().take(25).collect();
                let more = if short.len() < s.len() { "..." } else { "" };
                format!("Received type string ('{short}'{more})")
            }
            Err(_) => "Received type string".into(),
        },
        Ok(ValueType::BigInt) => match value
            .coerce_to_string()
            .and_then(|s| s.into_utf8())
            .and_then(|s| s.into_owned())
        {
            Ok(s) => format!("Received type bigint ({s}n)"),
            Err(_) => "Received type bigint".into(),
        },
        Ok(ValueType::Symbol) => "Received type symbol".into(),
        Ok(ValueType::Function) => match name_of(value, false) {
            Some(n) if !n.is_empty() => format!("Received function {n}"),
            _ => "Received function ".into(),
        },
        Ok(ValueType::Object) => match name_of(value, true) {
            Some(n) if !n.is_empty() => format!("Received an instance of {n}"),
            _ => "Received [object]".into(),
        },
        _ => "Received an unknown value".into(),
    }
}

/// `value.name`, or `value.constructor.name` for objects.
fn name_of(value: &Unknown, of_constructor: bool) -> Option<String> {
    // SAFETY: objects and functions are both objects for property access.
    let obj = unsafe { value.cast::<Object>() }.ok()?;
    let target = if of_constructor {
        let ctor = obj.get_named_property::<Unknown>("constructor").ok()?;
        if !matches!(ctor.get_type(), Ok(ValueType::Function)) {
            return None;
        }
        // SAFETY: a function is an object.
        unsafe { ctor.cast::<Object>() }.ok()?
    } else {
        obj
    };
    let name = target.get_named_property::<Unknown>("name").ok()?;
    if name.get_type().ok()? != ValueType::String {
        return None;
    }
    // SAFETY: checked to be a string.
    unsafe { name.cast::<String>() }.ok()
}

/// A number as JavaScript prints it, for messages.
pub fn js_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if n.fract() == 0.0 && n.abs() < 1e21 {
        let s = format!("{n:.0}");
        if n == 0.0 {
            "0".into()
        } else {
            s
        }
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::js_number;

    #[test]
    fn numbers_print_as_in_javascript() {
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::INFINITY), "Infinity");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(js_number(4294967296.0), "4294967296");
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(js_number(1.5), "1.5");
    }
}
