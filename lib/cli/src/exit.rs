//! From an error chain to the exit code of the one table (reshifter_format::error).

use reshifter_format::Error;

/// The exit code for any error chain: the first library [`Error`] in the chain decides;
/// a closed downstream pipe is success.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return 0;
    }
    err.chain()
        .find_map(|e| {
            e.downcast_ref::<Error>().or_else(|| {
                e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|i| i.downcast_ref::<Error>())
            })
        })
        .map(|e| e.kind().exit_code())
        .unwrap_or(1)
}

/// True when the error was caused by writing to a pipe whose reader has gone away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
