//! Credentials never leave in text: `scheme://user:password@host` becomes `scheme://***@host`
//! wherever a URL appears in a message, a log line or a job's error.

use std::borrow::Cow;

/// `text` with the user information of every URL in it replaced by `***`.
pub fn urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first of / ? # or a character no URL holds unescaped.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | '\\') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_replaced_everywhere() {
        assert_eq!(urls("http://127.0.0.1:2379"), "http://127.0.0.1:2379");
        assert_eq!(urls("etcd at http://root:s3cr3t@10.0.0.1:2379: down"), "etcd at http://***@10.0.0.1:2379: down");
        assert_eq!(
            urls("a https://u@h/x?y=1 and \"http://u:p@w@h2\" b"),
            "a https://***@h/x?y=1 and \"http://***@h2\" b"
        );
        assert_eq!(urls("no url: a://"), "no url: a://");
    }
}
