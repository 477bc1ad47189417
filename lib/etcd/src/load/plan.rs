//! `--plan`: a dry run summed up per Kubernetes resource and namespace, the restore plan an
//! operator reads before a disaster recovery. It counts the dry run's own `{"action","key"}`
//! lines (so the library caller that collects them, the server, counts the same way).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// How the plan is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// One NDJSON line per resource and namespace, then a total line
    Json,
    /// An aligned table
    Table,
}

/// Groups kept at most; beyond, the rest is counted as one `(other)` group (bounded memory on
/// any keyspace).
const MAX_GROUPS: usize = 100_000;

/// What a dry run would do to one group of keys.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    pub unchanged: u64,
    /// Existing keys create-only leaves alone.
    pub keep: u64,
}

impl Counts {
    fn add(&mut self, action: &str) {
        match action {
            "create" => self.create += 1,
            "update" => self.update += 1,
            "delete" => self.delete += 1,
            "keep" => self.keep += 1,
            _ => self.unchanged += 1,
        }
    }

    fn sum(&mut self, o: &Counts) {
        self.create += o.create;
        self.update += o.update;
        self.delete += o.delete;
        self.unchanged += o.unchanged;
        self.keep += o.keep;
    }
}

/// (resource, namespace): keys outside Kubernetes' roots are resource `(not kubernetes)`,
/// cluster-scoped ones have namespace `""`.
pub type Group = (String, String);

/// The counts per group, filled from dry-run lines written to it.
#[derive(Clone, Default)]
pub struct Plan {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    groups: BTreeMap<Group, Counts>,
    partial: Vec<u8>,
    roots: reshifter_k8s::Roots,
}

impl Plan {
    /// A plan that reads Kubernetes keys under `roots` (the API server's --etcd-prefix).
    pub fn under(roots: reshifter_k8s::Roots) -> Plan {
        Plan { inner: Arc::new(Mutex::new(Inner { roots, ..Default::default() })) }
    }
}

fn group_of(key: &[u8], roots: &reshifter_k8s::Roots) -> Group {
    match roots.parse(key) {
        Some(k) => (k.resource, k.namespace.map(|n| n.to_string()).unwrap_or_default()),
        None => ("(not kubernetes)".into(), String::new()),
    }
}

impl Inner {
    fn line(&mut self, line: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(line) else { return };
        let key = match (v["key"].as_str(), v["key_b64"].as_str()) {
            (Some(k), _) => k.as_bytes().to_vec(),
            (None, Some(b)) => base64_simd::STANDARD.decode_to_vec(b.as_bytes()).unwrap_or_default(),
            _ => return,
        };
        let mut g = group_of(&key, &self.roots);
        if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&g) {
            g = ("(other)".into(), String::new());
        }
        self.groups.entry(g).or_default().add(v["action"].as_str().unwrap_or(""));
    }
}

impl Write for Plan {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i);
            if p.partial.is_empty() {
                p.line(line);
            } else {
                let mut whole = std::mem::take(&mut p.partial);
                whole.extend_from_slice(line);
                p.line(&whole);
            }
            rest = &tail[1..];
        }
        p.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Plan {
    /// The counts per group, in order.
    pub fn groups(&self) -> BTreeMap<Group, Counts> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).groups.clone()
    }

    /// The counts per resource (namespaces summed).
    pub fn by_resource(&self) -> BTreeMap<String, Counts> {
        let mut out: BTreeMap<String, Counts> = BTreeMap::new();
        for ((r, _), c) in self.groups() {
            out.entry(r).or_default().sum(&c);
        }
        out
    }

    /// Write the plan: NDJSON lines (resource, namespace, counts) and a total, or a table.
    pub fn write_to(&self, w: &mut dyn Write, format: PlanFormat) -> std::io::Result<()> {
        let groups = self.groups();
        let mut total = Counts::default();
        groups.values().for_each(|c| total.sum(c));
        let row = |c: &Counts| [c.create, c.update, c.delete, c.unchanged, c.keep];
        match format {
            PlanFormat::Json => {
                let js = |t: &str| serde_json::to_string(t).unwrap_or_default();
                for ((r, ns), c) in &groups {
                    writeln!(w, "{{\"resource\":{},\"namespace\":{},{}}}", js(r), js(ns), counts_json(c))?;
                }
                writeln!(w, "{{\"type\":\"total\",{}}}", counts_json(&total))?;
            }
            PlanFormat::Table => {
                let rw = groups.keys().map(|(r, _)| r.len()).max().unwrap_or(0).max(8);
                let nw = groups.keys().map(|(_, n)| n.len()).max().unwrap_or(0).max(9);
                writeln!(
                    w,
                    "{:<rw$}  {:<nw$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                    "RESOURCE", "NAMESPACE", "CREATE", "UPDATE", "DELETE", "UNCHANGED", "KEEP"
                )?;
                let mut line = |a: &str, b: &str, c: &Counts| {
                    let [x1, x2, x3, x4, x5] = row(c);
                    writeln!(w, "{a:<rw$}  {b:<nw$}  {x1:>9}  {x2:>9}  {x3:>9}  {x4:>9}  {x5:>9}")
                };
                for ((r, ns), c) in &groups {
                    line(r, ns, c)?;
                }
                line("TOTAL", "", &total)?;
            }
        }
        Ok(())
    }
}

fn counts_json(c: &Counts) -> String {
    format!(
        "\"create\":{},\"update\":{},\"delete\":{},\"unchanged\":{},\"keep\":{}",
        c.create, c.update, c.delete, c.unchanged, c.keep
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_anywhere_count_once_per_group() {
        let text = b"{\"action\":\"create\",\"key\":\"/registry/pods/default/a\"}\n\
            {\"action\":\"delete\",\"key\":\"/registry/pods/default/b\"}\n\
            {\"action\":\"unchanged\",\"key\":\"/registry/namespaces/default\"}\n\
            {\"action\":\"update\",\"key_b64\":\"/w==\"}\n";
        for cut in [1, 7, 53, text.len() - 1] {
            let mut p = Plan::default();
            p.write_all(&text[..cut]).unwrap();
            p.write_all(&text[cut..]).unwrap();
            let g = p.groups();
            let pods = g[&("pods".to_string(), "default".to_string())];
            assert_eq!((pods.create, pods.delete, pods.update), (1, 1, 0));
            assert_eq!(g[&("namespaces".to_string(), String::new())].unchanged, 1);
            assert_eq!(g[&("(not kubernetes)".to_string(), String::new())].update, 1);
        }
    }

    #[test]
    fn the_table_lines_up_and_totals() {
        let mut p = Plan::default();
        p.write_all(b"{\"action\":\"create\",\"key\":\"/registry/pods/prod/a\"}\n").unwrap();
        let mut out = Vec::new();
        p.write_to(&mut out, PlanFormat::Table).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "RESOURCE  NAMESPACE     CREATE     UPDATE     DELETE  UNCHANGED       KEEP\n\
             pods      prod               1          0          0          0          0\n\
             TOTAL                        1          0          0          0          0\n"
        );
    }
}
