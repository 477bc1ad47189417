//! One nesting limit for every JSON reader and writer of the toolkit: [`MAX_DEPTH`], the API
//! server's own (Go's encoding/json refuses deeper documents), so that any object the cluster
//! could store is read, decoded, written back and judged — and anything deeper is named, never
//! dropped as if it were not an object.
//!
//! A document's depth is measured first by a scan that keeps no stack; only then is it parsed,
//! with serde_json's own limit lifted and the stack grown on demand (serde_stacker). Threads that
//! handle decoded objects are started with [`WORKER_STACK`] so that serializing, comparing and
//! dropping values that deep fits too.

use serde::de::DeserializeOwned;

/// The deepest nesting of arrays and objects read or written: the API server's limit.
pub const MAX_DEPTH: usize = 10_000;

/// How much one value may decode to: its JSON text plus [`NODE_COST`] per array element or
/// object field, about what the decoded value costs in memory. A terse encoding (protobuf's
/// empty message is two bytes, JSON's `[]` two) must not turn a value into hundreds of MiB.
pub const MAX_DECODED: usize = 128 << 20;

/// What one decoded element or field costs against [`MAX_DECODED`], beside its text.
pub const NODE_COST: usize = 128;

/// Stack size of the threads that handle decoded objects (at [`MAX_DEPTH`], serializing and
/// dropping a value takes a few MiB; the rest is margin).
pub const WORKER_STACK: usize = 64 << 20;

/// Why a JSON document was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("nested {0} levels deep, deeper than the {MAX_DEPTH} the API server reads")]
    TooDeep(usize),
    #[error("not valid JSON: {0}")]
    Invalid(String),
    #[error("decodes to more than {} MiB", MAX_DECODED >> 20)]
    TooLarge,
}

/// The deepest nesting of arrays and objects in `bytes` (strings skipped), without a stack.
pub fn depth(bytes: &[u8]) -> usize {
    shape(bytes).0
}

/// The deepest nesting and the number of elements and fields (roughly: opening brackets and
/// commas outside strings).
fn shape(bytes: &[u8]) -> (usize, usize) {
    let (mut d, mut max, mut in_str, mut esc, mut nodes) = (0usize, 0usize, false, false, 0usize);
    for &b in bytes {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                d += 1;
                max = max.max(d);
                nodes += 1;
            }
            b',' => nodes += 1,
            b']' | b'}' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    (max, nodes)
}

/// Parse `bytes` whose nesting may go `extra` levels past [`MAX_DEPTH`] (the levels a stream's
/// record line adds around the object it carries).
pub fn parse_within<T: DeserializeOwned>(bytes: &[u8], extra: usize) -> Result<T, JsonError> {
    let (d, nodes) = shape(bytes);
    if d > MAX_DEPTH + extra {
        return Err(JsonError::TooDeep(d - extra));
    }
    if nodes.saturating_mul(NODE_COST).saturating_add(bytes.len()) > MAX_DECODED {
        return Err(JsonError::TooLarge);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let v = T::deserialize(serde_stacker::Deserializer::new(&mut de)).map_err(|e| JsonError::Invalid(e.to_string()))?;
    de.end().map_err(|e| JsonError::Invalid(e.to_string()))?;
    Ok(v)
}

/// Parse a JSON document nested at most [`MAX_DEPTH`] deep.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    parse_within(bytes, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_limit_is_the_api_servers() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(depth(br#"{"a":"[[[","b":[{}]}"#), 3);
        assert_eq!(depth(br#""\"[""#), 0);
        // Read on a worker's stack at the limit; refused past it, whatever the parser could do.
        let ok = std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn(move || {
                let v: Value = parse(deep(MAX_DEPTH).as_bytes()).unwrap();
                serde_json::to_vec(&v).unwrap().len()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(ok, 2 * MAX_DEPTH + 1);
        assert_eq!(parse::<Value>(deep(MAX_DEPTH + 1).as_bytes()), Err(JsonError::TooDeep(MAX_DEPTH + 1)));
        assert!(matches!(parse::<Value>(b"{\"a\":1"), Err(JsonError::Invalid(_))));
        assert!(matches!(parse::<Value>(b"{} x"), Err(JsonError::Invalid(_))));
        let many = format!("[{}[]]", "[],".repeat(3 << 20));
        assert_eq!(parse::<Value>(many.as_bytes()), Err(JsonError::TooLarge));
    }
}
