//! Sorting records by key in bounded memory, refusing duplicates.
//!
//! Records go into memory until `budget` bytes, are sorted there and spilled as a run to an
//! anonymous temporary file (gone when the process ends, however it ends); at the end the runs
//! are merged with a heap. A key seen twice is an error that names it: a stream holds each key
//! once, and two records for one key would leave etcd with whichever came last.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Kind, Result};
use crate::show_key;

/// Memory a sort holds before it spills a run.
pub const DEFAULT_BUDGET: usize = 64 << 20;

/// Collects `(key, payload)` pairs; [`Sorter::finish`] yields them in key order.
pub struct Sorter {
    budget: usize,
    mem: Vec<(Vec<u8>, Vec<u8>)>,
    mem_bytes: usize,
    runs: Vec<File>,
}

impl Sorter {
    pub fn new(budget: usize) -> Self {
        Sorter { budget: budget.max(1), mem: Vec::new(), mem_bytes: 0, runs: Vec::new() }
    }

    pub fn push(&mut self, key: Vec<u8>, payload: Vec<u8>) -> Result<()> {
        self.mem_bytes += key.len() + payload.len() + 64;
        self.mem.push((key, payload));
        if self.mem_bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Runs spilled so far (for tests and reports).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn sort_mem(&mut self) -> Result<()> {
        self.mem.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = self.mem.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(duplicate(&w[0].0));
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.sort_mem()?;
        let mut w = BufWriter::with_capacity(1 << 20, tempfile::tempfile()?);
        for (k, p) in self.mem.drain(..) {
            w.write_all(&(k.len() as u64).to_le_bytes())?;
            w.write_all(&k)?;
            w.write_all(&(p.len() as u64).to_le_bytes())?;
            w.write_all(&p)?;
        }
        let mut f = w.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        self.runs.push(f);
        self.mem_bytes = 0;
        Ok(())
    }

    /// Everything pushed, in key order; a duplicate key ends the iteration with an error.
    pub fn finish(mut self) -> Result<Merged> {
        if self.runs.is_empty() {
            self.sort_mem()?;
            return Ok(Merged { source: Backing::Mem(self.mem.into_iter()), last: None, failed: false });
        }
        if !self.mem.is_empty() {
            self.spill()?;
        }
        let mut readers: Vec<BufReader<File>> =
            self.runs.into_iter().map(|f| BufReader::with_capacity(256 << 10, f)).collect();
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some((k, p)) = read_item(r)? {
                heap.push(Reverse((k, i, p)));
            }
        }
        Ok(Merged { source: Backing::Runs(readers, heap), last: None, failed: false })
    }
}

fn duplicate(key: &[u8]) -> Error {
    Error::new(Kind::BadInput, format!("key {} appears twice: a stream holds each key once", show_key(key)))
}

fn read_item(r: &mut BufReader<File>) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut n = [0u8; 8];
    match r.read_exact(&mut n) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut k = vec![0u8; u64::from_le_bytes(n) as usize];
    r.read_exact(&mut k)?;
    r.read_exact(&mut n)?;
    let mut p = vec![0u8; u64::from_le_bytes(n) as usize];
    r.read_exact(&mut p)?;
    Ok(Some((k, p)))
}

type Heap = BinaryHeap<Reverse<(Vec<u8>, usize, Vec<u8>)>>;

enum Backing {
    Mem(std::vec::IntoIter<(Vec<u8>, Vec<u8>)>),
    Runs(Vec<BufReader<File>>, Heap),
}

/// The sorted pairs.
pub struct Merged {
    source: Backing,
    last: Option<Vec<u8>>,
    failed: bool,
}

impl Merged {
    fn pull(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        match &mut self.source {
            Backing::Mem(it) => Ok(it.next()),
            Backing::Runs(readers, heap) => {
                let Some(Reverse((k, i, p))) = heap.pop() else { return Ok(None) };
                if let Some((nk, np)) = read_item(&mut readers[i])? {
                    heap.push(Reverse((nk, i, np)));
                }
                if self.last.as_deref() == Some(k.as_slice()) {
                    return Err(duplicate(&k));
                }
                self.last = Some(k.clone());
                Ok(Some((k, p)))
            }
        }
    }
}

impl Iterator for Merged {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.pull().transpose();
        if matches!(r, Some(Err(_))) {
            self.failed = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(keys: &[u32], budget: usize) -> Result<Vec<u32>> {
        let mut s = Sorter::new(budget);
        for k in keys {
            s.push(format!("/k/{k:06}").into_bytes(), k.to_le_bytes().to_vec())?;
        }
        s.finish()?.map(|r| r.map(|(_, p)| u32::from_le_bytes(p.try_into().unwrap()))).collect()
    }

    #[test]
    fn sorts_in_memory_and_across_runs() {
        let keys: Vec<u32> = (0..5000).map(|i| (i * 7919) % 5000).collect();
        let want: Vec<u32> = (0..5000).collect();
        assert_eq!(sorted(&keys, 1 << 30).unwrap(), want);
        let mut s = Sorter::new(4096);
        for k in &keys {
            s.push(format!("/k/{k:06}").into_bytes(), vec![]).unwrap();
        }
        assert!(s.runs() > 10);
        assert_eq!(sorted(&keys, 4096).unwrap(), want);
    }

    #[test]
    fn duplicates_are_named() {
        for budget in [1 << 30, 100] {
            let err = sorted(&[5, 3, 9, 3, 1, 7, 8, 2, 4, 6, 10, 11], budget).unwrap_err();
            assert_eq!(err.to_string(), "key \"/k/000003\" appears twice: a stream holds each key once");
        }
    }
}
