//! Argument checks with Node's own error codes and wording, so that a wrong argument is a
//! TypeError or RangeError the caller can recognise, never a silent truncation.

use std::ffi::{c_void, CString};
use std::ptr;

use napi::bindgen_prelude::{Array, JsObjectValue, Object, ValueType};
use napi::{sys, Env, JsValue, Unknown};

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

/// A string argument where null means none: `source` and `fstype` of mount().
pub fn nullable_path(value: &Unknown, name: &str) -> Outcome<Option<String>> {
    match value.get_type() {
        Ok(ValueType::Null) => Ok(None),
        Ok(ValueType::String) => path(value, name).map(Some),
        _ => Err(Failure::ArgType(format!(
            "The \"{name}\" argument must be of type string or null. {}",
            received(value)
        ))),
    }
}

/// An optional string argument where null means none too: `data` of mount().
pub fn opt_nullable_path(value: &Unknown, name: &str) -> Outcome<Option<String>> {
    if is_undefined(value) {
        return Ok(None);
    }
    nullable_path(value, name)
}

/// `flags` checked against the bits a call takes (`table`; `family` names them): any other
/// bit is refused before the syscall, named, rather than left to the kernel to ignore or to
/// read as something else.
pub fn known_flags(flags: u32, name: &str, table: &[(u32, &str)], family: &str) -> Outcome<u32> {
    let unknown = flags & !crate::flags::mask_of(table);
    if unknown == 0 {
        return Ok(flags);
    }
    Err(Failure::ArgValue(format!(
        "The argument '{name}' must be a mask of {family}; {unknown:#x} is none of them. \
         Received {}",
        crate::flags::bit_names(table, flags)
    )))
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

/// `value.name`, or `value.constructor.name` for objects. A getter or Proxy trap that throws
/// leaves its exception cleared: describing a wrong argument must not throw something else.
fn name_of(value: &Unknown, of_constructor: bool) -> Option<String> {
    let name = read_name(value, of_constructor);
    clear_exception(value.value().env);
    name
}

/// Clears the exception a property read may have left pending, so that the error this call
/// builds is the one that reaches JavaScript (thrown, or as a promise's rejection).
pub fn clear_exception(env: sys::napi_env) {
    let mut pending = false;
    // SAFETY: env is the live environment of the current call; the out-pointers are locals.
    unsafe {
        sys::napi_is_exception_pending(env, &mut pending);
        if pending {
            let mut error = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut error);
        }
    }
}

fn read_name(value: &Unknown, of_constructor: bool) -> Option<String> {
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

/// A string argument turned into a C string: no NUL bytes.
pub fn c_string(s: String, name: &str) -> Outcome<CString> {
    CString::new(s).map_err(|e| {
        Failure::ArgValue(format!(
            "The argument '{name}' must be a string without null bytes. Received {:?}",
            quote(&String::from_utf8_lossy(&e.into_vec()))
        ))
    })
}

/// At most this many characters of a caller's string are quoted in a message.
const QUOTE_MAX: usize = 200;

/// `s` for a message: cut to QUOTE_MAX characters, saying how much was left out.
pub fn quote(s: &str) -> String {
    let count = s.chars().count();
    if count <= QUOTE_MAX {
        return s.to_string();
    }
    let head: String = s.chars().take(QUOTE_MAX).collect();
    format!("{head}... ({} more characters)", count - QUOTE_MAX)
}

/// An array of strings (any array-like JavaScript Array, frozen or not), each without NUL bytes.
pub fn string_array(value: &Unknown, name: &str) -> Outcome<Vec<CString>> {
    let wrong = || {
        Failure::ArgType(format!(
            "The \"{name}\" argument must be an instance of Array of strings. {}",
            received(value)
        ))
    };
    if !value.is_array().unwrap_or(false) {
        return Err(wrong());
    }
    // SAFETY: checked to be an array just above.
    let array = unsafe { value.cast::<Array>() }.map_err(|_| wrong())?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let item: Unknown = array.get(i).ok().flatten().ok_or_else(wrong)?;
        if item.get_type().ok() != Some(ValueType::String) {
            return Err(Failure::ArgType(format!(
                "The \"{name}[{i}]\" argument must be of type string. {}",
                received(&item)
            )));
        }
        let item_name = format!("{name}[{i}]");
        out.push(c_string(path(&item, &item_name)?, &item_name)?);
    }
    Ok(out)
}

/// An environment object (`process.env` or a plain object of names to strings) as `NAME=value`
/// entries; properties whose value is undefined are left out, as child_process does.
pub fn environment(value: &Unknown, name: &str) -> Outcome<Vec<CString>> {
    let wrong = || {
        Failure::ArgType(format!(
            "The \"{name}\" argument must be of type object (names to strings). {}",
            received(value)
        ))
    };
    if value.get_type().ok() != Some(ValueType::Object) || value.is_array().unwrap_or(false) {
        return Err(wrong());
    }
    // SAFETY: checked to be an object just above.
    let object = unsafe { value.cast::<Object>() }.map_err(|_| wrong())?;
    let keys = object.get_property_names().map_err(|_| wrong())?;
    let mut out = Vec::new();
    for i in 0..keys.get_array_length().unwrap_or(0) {
        let key: String = keys.get_element(i).map_err(|_| wrong())?;
        let item: Unknown = object.get_named_property(&key).map_err(|_| wrong())?;
        if is_undefined(&item) {
            continue;
        }
        if item.get_type().ok() != Some(ValueType::String) {
            return Err(Failure::ArgType(format!(
                "The \"{name}.{key}\" argument must be of type string. {}",
                received(&item)
            )));
        }
        if key.contains('=') || key.is_empty() {
            return Err(Failure::ArgValue(format!(
                "The argument '{name}' must have names without '=' and not empty. Received {:?}",
                quote(&key)
            )));
        }
        let entry = format!("{key}={}", path(&item, &format!("{name}.{key}"))?);
        out.push(c_string(entry, &format!("{name}.{key}"))?);
    }
    Ok(out)
}

/// This process's environment as `NAME=value` entries.
pub fn own_environment() -> Vec<CString> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut entry = k.into_encoded_bytes();
            entry.push(b'=');
            entry.extend(v.into_encoded_bytes());
            entry
        })
        .filter_map(|entry| CString::new(entry).ok())
        .collect()
}

/// Checks that `value` is an Int32Array of at least one element: `ptid` of clone().
pub fn int32_array(env: &Env, value: &Unknown, name: &str) -> Outcome<()> {
    int32_slot(env, value.raw(), name).map(drop)
}

/// The address of element 0 of the Int32Array `value`. Read it right before the kernel writes
/// there, with no JavaScript run in between: JavaScript may detach or shrink the buffer.
pub fn int32_slot(env: &Env, value: sys::napi_value, name: &str) -> Outcome<*mut i32> {
    // SAFETY: a handle of the current call's scope.
    let unknown = unsafe { Unknown::from_raw_unchecked(env.raw(), value) };
    let wrong = || {
        Failure::ArgType(format!(
            "The \"{name}\" argument must be an instance of Int32Array. {}",
            received(&unknown)
        ))
    };
    let mut is_typed = false;
    // SAFETY: env and value belong to this call.
    unsafe { sys::napi_is_typedarray(env.raw(), value, &mut is_typed) };
    if !is_typed {
        return Err(wrong());
    }
    let mut kind = 0;
    let mut length = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    // SAFETY: value is a typed array (checked above); the out-pointers are live locals.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env.raw(),
            value,
            &mut kind,
            &mut length,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::int32_array {
        return Err(wrong());
    }
    if length == 0 || data.is_null() {
        return Err(Failure::ArgRange(format!(
            "The \"{name}\" argument must have a length of at least 1 (and a buffer that is not \
             detached). Received length {length}"
        )));
    }
    Ok(data.cast())
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
    use super::{js_number, quote};

    #[test]
    fn long_strings_are_cut_in_messages() {
        assert_eq!(quote("abc"), "abc");
        let long = "x".repeat(5_000_000);
        let q = quote(&long);
        assert!(q.len() < 300, "{}", q.len());
        assert!(q.ends_with("... (4999800 more characters)"), "{q}");
    }

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
