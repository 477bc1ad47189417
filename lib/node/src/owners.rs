//! User and group names from `etc/passwd` and `etc/group` (the root's, else the host's): files
//! carry both the numbers and the names, and a restore onto another node maps by name.

use std::collections::HashMap;
use std::path::Path;

/// The names of a system's users and groups, both ways.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
    uids: HashMap<String, u32>,
    gids: HashMap<String, u32>,
}

/// The largest account database read (a hostile root cannot make us read more).
const MAX_DB: u64 = 4 << 20;

fn read_db(root: &Path, name: &str) -> String {
    for p in [root.join("etc").join(name), Path::new("/etc").join(name)] {
        if let Ok(m) = std::fs::symlink_metadata(&p)
            && m.is_file()
            && m.len() <= MAX_DB
            && let Ok(text) = std::fs::read_to_string(&p)
        {
            return text;
        }
    }
    String::new()
}

fn parse(text: &str) -> (HashMap<u32, String>, HashMap<String, u32>) {
    let (mut by_id, mut by_name) = (HashMap::new(), HashMap::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3
            && !f[0].is_empty()
            && let Ok(id) = f[2].parse::<u32>()
        {
            by_id.entry(id).or_insert_with(|| f[0].to_string());
            by_name.entry(f[0].to_string()).or_insert(id);
        }
    }
    (by_id, by_name)
}

impl Owners {
    /// The accounts of the system under `root` (its `etc/passwd` and `etc/group`), or, where it
    /// has none, of this host.
    pub fn of(root: &Path) -> Self {
        let (users, uids) = parse(&read_db(root, "passwd"));
        let (groups, gids) = parse(&read_db(root, "group"));
        Owners { users, groups, uids, gids }
    }

    pub fn user(&self, uid: u32) -> Option<String> {
        self.users.get(&uid).cloned()
    }

    pub fn group(&self, gid: u32) -> Option<String> {
        self.groups.get(&gid).cloned()
    }

    /// The uid to restore: the named user's on this system when it has one, else the number.
    pub fn uid(&self, name: Option<&str>, uid: u32) -> u32 {
        name.and_then(|n| self.uids.get(n)).copied().unwrap_or(uid)
    }

    /// The gid to restore: the named group's on this system when it has one, else the number.
    pub fn gid(&self, name: Option<&str>, gid: u32) -> u32 {
        name.and_then(|n| self.gids.get(n)).copied().unwrap_or(gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        let (ids, names) = parse("root:x:0:0:root:/root:/bin/bash\netcd:x:998:996::/var/lib/etcd:/sbin/nologin\nbad\n");
        assert_eq!(ids.get(&998).map(String::as_str), Some("etcd"));
        assert_eq!(names.get("root"), Some(&0));
        let o = Owners { uids: names, ..Owners::default() };
        assert_eq!(o.uid(Some("etcd"), 5), 998);
        assert_eq!(o.uid(Some("nobody-here"), 5), 5);
        assert_eq!(o.uid(None, 7), 7);
    }
}
