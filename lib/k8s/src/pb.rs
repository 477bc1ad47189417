//! A minimal protobuf writer and reader: enough to encode Kubernetes objects the way
//! kube-apiserver stores them (`k8s\0` + runtime.Unknown) and to look inside such values.

/// A protobuf message being written.
#[derive(Default, Clone)]
pub struct Msg {
    buf: Vec<u8>,
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Msg {
    pub fn new() -> Self {
        Msg { buf: Vec::with_capacity(256) }
    }

    fn tag(&mut self, field: u32, wire: u8) {
        varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// A length-delimited field (string, bytes, message).
    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.tag(field, 2);
        varint(&mut self.buf, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    pub fn str(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    /// Each string as its own field occurrence (`repeated string`).
    pub fn strs<S: AsRef<str>>(&mut self, field: u32, items: &[S]) -> &mut Self {
        for s in items {
            self.str(field, s.as_ref());
        }
        self
    }

    /// A varint field (int32, int64, enum).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.tag(field, 0);
        varint(&mut self.buf, v as u64);
        self
    }

    /// A 64-bit fixed field (double).
    pub fn fixed64(&mut self, field: u32, v: u64) -> &mut Self {
        self.tag(field, 1);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bool(&mut self, field: u32, v: bool) -> &mut Self {
        self.int(field, i64::from(v))
    }

    /// Bytes that are whole fields already (kept from another message).
    pub fn raw(&mut self, fields: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(fields);
        self
    }

    pub fn msg(&mut self, field: u32, m: &Msg) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// `map<string, string>`: one entry message per pair (key = 1, value = 2).
    pub fn map<K: AsRef<str>, V: AsRef<[u8]>>(&mut self, field: u32, pairs: &[(K, V)]) -> &mut Self {
        for (k, v) in pairs {
            let mut e = Msg::new();
            e.str(1, k.as_ref()).bytes(2, v.as_ref());
            self.msg(field, &e);
        }
        self
    }

    /// `map<string, Message>`.
    pub fn map_msg<K: AsRef<str>>(&mut self, field: u32, pairs: &[(K, Msg)]) -> &mut Self {
        for (k, v) in pairs {
            let mut e = Msg::new();
            e.str(1, k.as_ref()).msg(2, v);
            self.msg(field, &e);
        }
        self
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// The magic kube-apiserver puts before protobuf values.
pub const K8S_MAGIC: &[u8] = b"k8s\0";

/// Wrap an object's protobuf bytes as kube-apiserver stores them: `k8s\0` + runtime.Unknown
/// {typeMeta{apiVersion, kind}, raw, contentEncoding "", contentType ""}.
pub fn k8s_envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Msg::new();
    tm.str(1, api_version).str(2, kind);
    let mut u = Msg::new();
    u.msg(1, &tm).bytes(2, raw).str(3, "").str(4, "");
    let mut out = K8S_MAGIC.to_vec();
    out.extend_from_slice(&u.buf);
    out
}

/// One decoded field: number, wire type, and the payload (varint value or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed64(u64),
    Fixed32(u32),
}

/// A varint from the front of `b`, which moves past it.
pub fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut r = 0u64;
    for shift in (0..64).step_by(7) {
        let (&c, rest) = b.split_first()?;
        *b = rest;
        r |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return Some(r);
        }
    }
    None
}

/// The fields of a message in wire order, without collecting them: an item is `None` (and the
/// last one) where the bytes stop being protobuf.
pub struct FieldIter<'a>(pub &'a [u8]);

impl<'a> Iterator for FieldIter<'a> {
    type Item = Option<(u32, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let mut b = self.0;
        let item = (|| {
            let key = read_varint(&mut b)?;
            let field = u32::try_from(key >> 3).ok().filter(|f| *f > 0)?;
            let v = match key & 7 {
                0 => Value::Varint(read_varint(&mut b)?),
                1 => {
                    let (x, rest) = b.split_at_checked(8)?;
                    b = rest;
                    Value::Fixed64(u64::from_le_bytes(x.try_into().ok()?))
                }
                2 => {
                    let n = usize::try_from(read_varint(&mut b)?).ok()?;
                    let (x, rest) = b.split_at_checked(n)?;
                    b = rest;
                    Value::Bytes(x)
                }
                5 => {
                    let (x, rest) = b.split_at_checked(4)?;
                    b = rest;
                    Value::Fixed32(u32::from_le_bytes(x.try_into().ok()?))
                }
                _ => return None,
            };
            Some((field, v))
        })();
        self.0 = if item.is_some() { b } else { &[] };
        Some(item)
    }
}

/// Decode the top-level fields of a message; `None` when the bytes are not protobuf.
pub fn fields(b: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    FieldIter(b).collect()
}

/// The first length-delimited field `n` of a message.
pub fn field_bytes<'a>(fs: &[(u32, Value<'a>)], n: u32) -> Option<&'a [u8]> {
    fs.iter().find_map(|(f, v)| match v {
        Value::Bytes(b) if *f == n => Some(*b),
        _ => None,
    })
}

/// apiVersion and kind of a Kubernetes protobuf value from its first bytes (the rest may be cut).
pub fn k8s_unwrap_type(head: &[u8]) -> Option<(&str, &str)> {
    let rest = head.strip_prefix(K8S_MAGIC)?;
    // runtime.Unknown starts with field 1 (typeMeta), length-delimited.
    let (&tag, mut rest) = rest.split_first()?;
    if tag != 0x0a {
        return None;
    }
    let len = usize::try_from(read_varint(&mut rest)?).ok()?;
    let tm = fields(rest.get(..len)?)?;
    let api = std::str::from_utf8(field_bytes(&tm, 1).unwrap_or(b"")).ok()?;
    let kind = std::str::from_utf8(field_bytes(&tm, 2).unwrap_or(b"")).ok()?;
    Some((api, kind))
}

/// A Kubernetes protobuf value's apiVersion, kind and raw object bytes.
pub fn k8s_unwrap(value: &[u8]) -> Option<(&str, &str, &[u8])> {
    let rest = value.strip_prefix(K8S_MAGIC)?;
    let unknown = fields(rest)?;
    let tm = fields(field_bytes(&unknown, 1)?)?;
    let api = std::str::from_utf8(field_bytes(&tm, 1).unwrap_or(b"")).ok()?;
    let kind = std::str::from_utf8(field_bytes(&tm, 2).unwrap_or(b"")).ok()?;
    Some((api, kind, field_bytes(&unknown, 2).unwrap_or(b"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip() {
        let mut m = Msg::new();
        m.str(1, "name").int(7, 300).bool(8, true);
        let v = k8s_envelope("v1", "Pod", &m.clone().into_bytes());
        let (api, kind, raw) = k8s_unwrap(&v).unwrap();
        assert_eq!((api, kind), ("v1", "Pod"));
        let f = fields(raw).unwrap();
        assert_eq!(f, vec![(1, Value::Bytes(b"name")), (7, Value::Varint(300)), (8, Value::Varint(1))]);
        assert!(k8s_unwrap(b"{\"kind\":\"Pod\"}").is_none());
    }
}
