//! Reads a task's log files: the backlog at once, or the backlog and then new lines as the
//! supervisor appends them.
//!
//! Following polls the file every [`FOLLOW_POLL`]: the writer is another process (the task's
//! supervisor) that may outlive us or predate us, so there is no in-process event to wait on;
//! a short poll is simpler and sturdier than inotify and costs nothing while idle readers are
//! few. The end of the task, however, is an event (`ended`), so following stops promptly.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::writer::{CURRENT, ROTATED};
use super::{LogLines, LogMessage, LogOptions, decode, decode_all};
use crate::executor::{Error, Result};

/// How often a follower looks for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// Reads the backlog of the logs in `dir` (rotated file first), filtered by `options`.
pub fn read_dir(dir: &Path, options: &LogOptions) -> Result<Vec<LogMessage>> {
    let mut all = read_file_if_exists(&dir.join(ROTATED))?;
    all.extend(read_file_if_exists(&dir.join(CURRENT))?);
    Ok(options.select(all))
}

fn read_file_if_exists(path: &Path) -> Result<Vec<LogMessage>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(decode_all(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Streams the backlog of `dir` and then, if `options.follow`, every new line until `ended`
/// turns true (or its sender goes away) and the files are read to the end, or until the
/// stream is dropped.
pub fn follow_dir(dir: PathBuf, options: LogOptions, ended: watch::Receiver<bool>) -> LogLines {
    let (tx, mut rx) = mpsc::channel(256);
    tokio::spawn(async move {
        if let Err(e) = pump(dir, options, ended, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// The open current file and the bytes of a line not yet complete.
struct Cursor {
    file: File,
    inode: u64,
    partial: Vec<u8>,
}

async fn pump(
    dir: PathBuf,
    options: LogOptions,
    mut ended: watch::Receiver<bool>,
    tx: &mpsc::Sender<Result<LogMessage>>,
) -> Result<()> {
    // Open the current file before reading the rotated one, so a rotation in between shows
    // up as the rotated file being ours (skipped) rather than as lost lines.
    let current = dir.join(CURRENT);
    let mut cursor = blocking(move || open_cursor(&current)).await?;
    let rotated_path = dir.join(ROTATED);
    let ours = cursor.as_ref().map(|c| c.inode);
    let mut backlog = blocking(move || {
        let same = std::fs::metadata(&rotated_path)
            .map(|m| Some(m.ino()) == ours)
            .unwrap_or(false);
        if same {
            Ok(Vec::new())
        } else {
            read_file_if_exists(&rotated_path)
        }
    })
    .await?;
    if let Some(c) = cursor.take() {
        let (mut c, bytes) = blocking(move || read_more(c)).await?;
        backlog.extend(take_lines(&mut c.partial, &bytes));
        cursor = Some(c);
    }
    for message in options.select(backlog) {
        if tx.send(Ok(message)).await.is_err() {
            return Ok(());
        }
    }
    if !options.follow {
        return Ok(());
    }
    loop {
        // Look at `ended` before reading: the supervisor records the exit only after the
        // last line is written, so a read that starts after seeing the end sees every line.
        let was_ended = *ended.borrow_and_update();
        let path = dir.join(CURRENT);
        let (next, lines) = blocking(move || poll_once(cursor, &path)).await?;
        cursor = next;
        for message in lines.into_iter().filter(|m| options.admits(m)) {
            if tx.send(Ok(message)).await.is_err() {
                return Ok(());
            }
        }
        if was_ended {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            changed = ended.changed() => {
                if changed.is_err() {
                    // The executor forgot the task; read what is left once more, then stop.
                    let path = dir.join(CURRENT);
                    let (_, lines) = blocking(move || poll_once(cursor, &path)).await?;
                    for message in lines.into_iter().filter(|m| options.admits(m)) {
                        if tx.send(Ok(message)).await.is_err() {
                            break;
                        }
                    }
                    return Ok(());
                }
            }
            _ = tx.closed() => return Ok(()),
        }
    }
}

/// Reads what was appended since the last poll, following a rotation if one happened.
fn poll_once(cursor: Option<Cursor>, path: &Path) -> Result<(Option<Cursor>, Vec<LogMessage>)> {
    let mut lines = Vec::new();
    let mut cursor = match cursor {
        Some(c) => c,
        None => match open_cursor(path)? {
            Some(c) => c,
            None => return Ok((None, lines)),
        },
    };
    loop {
        let (mut c, bytes) = read_more(cursor)?;
        lines.extend(take_lines(&mut c.partial, &bytes));
        // Rotated away? Then the old file is complete; continue in the new one.
        match std::fs::metadata(path) {
            Ok(m) if m.ino() != c.inode => match open_cursor(path)? {
                Some(next) => cursor = next,
                None => return Ok((Some(c), lines)),
            },
            _ => return Ok((Some(c), lines)),
        }
    }
}

fn open_cursor(path: &Path) -> Result<Option<Cursor>> {
    match File::open(path) {
        Ok(file) => {
            let inode = file
                .metadata()
                .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
                .ino();
            Ok(Some(Cursor {
                file,
                inode,
                partial: Vec::new(),
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("opening {}", path.display()), e)),
    }
}

fn read_more(mut c: Cursor) -> Result<(Cursor, Vec<u8>)> {
    let mut bytes = Vec::new();
    c.file
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("reading task log", e))?;
    Ok((c, bytes))
}

/// Splits `bytes` (preceded by `partial`) into complete entries; keeps an incomplete tail.
fn take_lines(partial: &mut Vec<u8>, bytes: &[u8]) -> Vec<LogMessage> {
    partial.extend_from_slice(bytes);
    let Some(last_newline) = partial.iter().rposition(|&b| b == b'\n') else {
        return Vec::new();
    };
    let complete: Vec<u8> = partial.drain(..=last_newline).collect();
    complete
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(decode)
        .collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("log reader thread", std::io::Error::other(e.to_string())))?
}
