//! The buffer an object is encoded into: fields written as pieces in the order the JSON gives
//! them, each message laid out in tag order when it ends (embedded Go structs as the messages
//! they are), and what the encoding met (errors, names kept aside, its cost).

use std::fmt;

use super::super::CodecError;

type Result<T> = std::result::Result<T, CodecError>;

pub(super) fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(super) fn key(buf: &mut Vec<u8>, tag: u32, wire: u8) {
    varint(buf, (u64::from(tag) << 3) | u64::from(wire));
}

/// Where a piece goes in its message: the tags of the embedded structs it is inside (outermost
/// first), then its own; unknown fields go last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) struct Order {
    pub(super) tags: [u32; 4],
    /// How many of `tags` are embedded structs' (the rest is the field's own tag, then zeros).
    pub(super) groups: u8,
}

impl Order {
    pub(super) fn field(tag: u32) -> Self {
        Order { tags: [tag, 0, 0, 0], groups: 0 }
    }
    pub(super) const LAST: Order = Order { tags: [u32::MAX; 4], groups: 0 };
}

/// How many embedded structs deep a field may be, plus one.
pub(super) const fn order_slots() -> usize {
    4
}

/// A field's bytes in the buffer; `wrap` is the tag to put with a length before them (a message).
#[derive(Clone, Copy, Debug)]
pub(super) struct Piece {
    pub(super) order: Order,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) wrap: u32,
}

impl Piece {
    fn size(&self) -> usize {
        let n = self.end - self.start;
        if self.wrap == 0 { n } else { varint_len(u64::from(self.wrap) << 3) + varint_len(n as u64) + n }
    }
}

/// The encoding under way.
pub(super) struct Enc<'a> {
    pub(super) buf: Vec<u8>,
    pub(super) pieces: Vec<Piece>,
    /// Fields given in the messages under way (a field given twice is refused).
    pub(super) seen: Vec<*const super::super::Field>,
    /// Map entries under way: the key's bytes and the entry's.
    pub(super) entries: Vec<(usize, usize, usize, usize)>,
    pub(super) err: Option<CodecError>,
    /// apiVersion and kind the object's must be.
    pub(super) top: Option<(&'a str, &'a str)>,
    /// Reading text for kv-encode: `metadata.resourceVersion` left out, `metadata.name` and
    /// `namespace` kept aside (null refused).
    pub(super) text: bool,
    pub(super) name: Option<String>,
    pub(super) namespace: Option<String>,
    /// How many of apiVersion and kind were given.
    pub(super) typed: u8,
    pub(super) big: bool,
    /// What the encoding cost so far, as decoding counts it (see [`super::super::MAX_DECODED`]): a text
    /// of a few bytes per field must not become a buffer and pieces many times its size.
    pub(super) cost: usize,
}

/// The largest integer a double holds exactly.
pub(super) const EXACT: f64 = 9_007_199_254_740_992.0;

impl<'a> Enc<'a> {
    pub(super) fn new(top: Option<(&'a str, &'a str)>, text: bool) -> Self {
        Enc {
            buf: Vec::with_capacity(4096),
            pieces: Vec::new(),
            seen: Vec::new(),
            entries: Vec::new(),
            err: None,
            top,
            text,
            name: None,
            namespace: None,
            typed: 0,
            big: false,
            cost: 0,
        }
    }

    /// Record `e` and give serde an error to unwind with.
    pub(super) fn fail<E: serde::de::Error>(&mut self, e: CodecError) -> E {
        self.err = Some(e);
        E::custom("")
    }

    /// An error unwinding through field `name`: its path grows.
    pub(super) fn within<E: fmt::Display>(&mut self, e: E, name: &str) -> E {
        let inner = self.err.take().unwrap_or_else(|| CodecError::Json(e.to_string()));
        self.err = Some(inner.within(name));
        e
    }

    /// The bytes, or the error the encoding ended in.
    pub(super) fn finish<E: fmt::Display>(mut self, r: std::result::Result<(), E>) -> Result<Vec<u8>> {
        match r {
            Ok(()) => Ok(std::mem::take(&mut self.buf)),
            Err(e) => Err(self.err.take().unwrap_or_else(|| CodecError::Json(e.to_string()))),
        }
    }

    pub(super) fn number(&mut self, f: f64) {
        self.big |= f.abs() >= EXACT;
    }

    pub(super) fn push(&mut self, order: Order, start: usize, wrap: u32) {
        self.cost = self.cost.saturating_add(super::super::FIELD_COST + self.buf.len() - start);
        self.pieces.push(Piece { order, start, end: self.buf.len(), wrap });
    }

    /// Stop once the encoding costs more than a decoded object may.
    pub(super) fn bounded<E: serde::de::Error>(&mut self) -> std::result::Result<(), E> {
        if self.cost > super::super::MAX_DECODED {
            return Err(self.fail(CodecError::TooLarge));
        }
        Ok(())
    }

    /// A scalar field's key and value as one piece.
    pub(super) fn scalar(&mut self, order: Order, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        write(&mut self.buf);
        self.push(order, start, 0);
    }

    /// Lay the pieces from `base` on (all written after `start`) out in tag order at `start`.
    pub(super) fn assemble(&mut self, base: usize, start: usize) {
        let pieces = &mut self.pieces[base..];
        let in_place = {
            let mut at = start;
            let mut prev = None;
            pieces.iter().all(|p| {
                let ok = p.wrap == 0 && p.order.groups == 0 && p.start == at && prev.is_none_or(|o| o <= p.order);
                at = p.end;
                prev = Some(p.order);
                ok
            }) && at == self.buf.len()
        };
        if !in_place {
            pieces.sort_by_key(|p| p.order);
            let out = self.buf.len();
            let n = self.pieces.len();
            emit(&mut self.buf, &self.pieces[base..n], 0);
            self.buf.copy_within(out.., start);
            let len = self.buf.len() - out;
            self.buf.truncate(start + len);
        }
        self.pieces.truncate(base);
    }
}

/// The size of `pieces` laid out from group level `level` on.
fn size(pieces: &[Piece], level: usize) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < pieces.len() {
        let p = pieces[i];
        if usize::from(p.order.groups) > level {
            let j = group_end(pieces, i, level);
            let inner = size(&pieces[i..j], level + 1);
            n += varint_len(u64::from(p.order.tags[level]) << 3) + varint_len(inner as u64) + inner;
            i = j;
        } else {
            n += p.size();
            i += 1;
        }
    }
    n
}

/// The end of the run of pieces from `i` in the same embedded struct at `level`.
fn group_end(pieces: &[Piece], i: usize, level: usize) -> usize {
    let tag = pieces[i].order.tags[level];
    let mut j = i;
    while j < pieces.len() && usize::from(pieces[j].order.groups) > level && pieces[j].order.tags[level] == tag {
        j += 1;
    }
    j
}

/// Write `pieces` (sorted) at the end of `buf`, embedded structs as messages.
fn emit(buf: &mut Vec<u8>, pieces: &[Piece], level: usize) {
    let mut i = 0;
    while i < pieces.len() {
        let p = pieces[i];
        if usize::from(p.order.groups) > level {
            let j = group_end(pieces, i, level);
            key(buf, p.order.tags[level], 2);
            varint(buf, size(&pieces[i..j], level + 1) as u64);
            emit(buf, &pieces[i..j], level + 1);
            i = j;
        } else {
            if p.wrap != 0 {
                key(buf, p.wrap, 2);
                varint(buf, (p.end - p.start) as u64);
            }
            buf.extend_from_within(p.start..p.end);
            i += 1;
        }
    }
}
