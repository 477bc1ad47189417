//! Damage never yields different data: every single-byte change and every truncation of a
//! random stream and of its archives is refused, or reads back as the original records.

use std::io::Write;
use std::process::{Command, Stdio};

use reshifter_e2e::{bin, records, sh, tmp};
use reshifter_format::{Header, Record, StreamWriter};

/// xorshift64*: a fixed seed makes every run check the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Random records: binary and text keys and values, leases, one key of `long` bytes if > 0.
fn random_stream(seed: u64, n: usize, long: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut recs: Vec<Record> = (0..n)
        .map(|i| {
            let key = if i % 2 == 0 {
                format!("/registry/pods/ns/p{}", rng.next() % 1000).into_bytes()
            } else {
                let mut k = b"/bin/".to_vec();
                let len = (rng.next() % 20) as usize;
                k.extend(rng.bytes(len));
                k
            };
            let vlen = (rng.next() % 60) as usize;
            let rev = 2 + (rng.next() % 50) as i64;
            Record { key, value: rng.bytes(vlen), create_revision: rev, mod_revision: rev + 1, version: 2, lease: 0 }
        })
        .collect();
    if long > 0 {
        let mut key = b"/long/".to_vec();
        key.extend(std::iter::repeat_n(b'k', long));
        recs.push(Record { key, value: b"v".to_vec(), create_revision: 3, mod_revision: 3, version: 1, lease: 0 });
    }
    recs.sort_by(|a, b| a.key.cmp(&b.key));
    recs.dedup_by(|a, b| a.key == b.key);
    let mut h = Header::new("test");
    h.time = "2026-01-01T00:00:00Z".into();
    h.revision = 60;
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for r in &recs {
        w.write(r).unwrap();
    }
    w.finish().unwrap().0
}

/// Run one of our tools on `input` (stdin); (exit code, stdout).
fn run(tool: &str, args: &[&str], input: &[u8]) -> (i32, Vec<u8>) {
    let mut child = Command::new(bin(tool))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = child.wait_with_output().unwrap();
    let _ = feeder.join();
    (o.status.code().unwrap_or(-1), o.stdout)
}

/// Every damaged copy: one byte changed (bit 0 or bit 7, alternately) at each position, and
/// a cut at each position, stepping by `stride`.
fn damaged(original: &[u8], stride: usize) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for i in (0..original.len()).step_by(stride) {
        let x = if (i / stride).is_multiple_of(2) { 0x01u8 } else { 0x80 };
        let mut d = original.to_vec();
        d[i] ^= x;
        v.push((format!("byte {i} ^ {x:#x}"), d));
        v.push((format!("cut at {i}"), original[..i].to_vec()));
    }
    v
}

/// Accepted damage must read back as exactly the original records; returns (refused, identical).
fn check(tool: &str, args: &[&str], original: &[u8], want: &[Record], stride: usize) -> (usize, usize) {
    let (mut refused, mut same) = (0, 0);
    for (what, input) in damaged(original, stride) {
        let (code, out) = run(tool, args, &input);
        if code == 0 {
            let got = std::panic::catch_unwind(|| records(&out))
                .unwrap_or_else(|_| panic!("{tool} {args:?}: {what}: exit 0 with an unreadable stream"));
            assert!(got == want, "{tool} {args:?}: {what}: exit 0 with different records");
            same += 1;
        } else {
            assert!((2..=9).contains(&code), "{tool}: {what}: exit {code}");
            refused += 1;
        }
    }
    eprintln!("{tool} {args:?}: {refused} refused, {same} read back identical");
    (refused, same)
}

#[test]
fn damaged_streams_are_refused_or_identical() {
    let stream = random_stream(7, 12, 0);
    let want = records(&stream);
    assert!(want.len() >= 10);
    let (refused, _) = check("kv-filter", &[], &stream, &want, 1);
    assert!(refused > stream.len());
    let big = random_stream(8, 30, 70_000);
    let want = records(&big);
    check("kv-filter", &[], &big, &want, 97);
}

#[test]
fn damaged_archives_are_refused_or_identical() {
    let d = tmp();
    let p = d.path().display();
    for (name, seed, long) in [("small", 11, 0), ("long", 12, 70_000)] {
        let stream = random_stream(seed, 12, long);
        std::fs::write(d.path().join(format!("{name}.ndjson")), &stream).unwrap();
        let want = records(&stream);
        for (flags, stride) in [("deflate", 2), ("store", 5), ("zstd", 5)] {
            sh(&format!("archive-pack -q --compression {flags} {p}/{name}.ndjson -o {p}/{name}.zip")).ok();
            let zip = std::fs::read(d.path().join(format!("{name}.zip"))).unwrap();
            check("archive-unpack", &[], &zip, &want, if long > 0 { 89 } else { stride });
        }
        sh(&format!(
            "age-keygen -o {p}/key.txt 2>/dev/null; age-keygen -y {p}/key.txt > {p}/r.txt; \
             archive-pack -q --recipients-file {p}/r.txt {p}/{name}.ndjson -o {p}/{name}.age"
        ))
        .ok();
        let age = std::fs::read(d.path().join(format!("{name}.age"))).unwrap();
        let key = format!("{p}/key.txt");
        check("archive-unpack", &["--identity-file", &key], &age, &want, if long > 0 { 211 } else { 7 });
    }
}
