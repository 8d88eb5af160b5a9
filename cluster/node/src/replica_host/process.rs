//! The manager side: spawning a replica child and talking to it.

use std::io;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use tessera_protocol::replica_manager::{FromReplica, ToReplica};

use super::frame;
use crate::config::Implementation;

/// What to start: `exe replica --impl NAME --dir DIR`.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    /// The `tesserad` binary (normally `std::env::current_exe()`).
    pub exe: PathBuf,
    pub implementation: Implementation,
    pub dir: PathBuf,
}

/// A running replica child. Dropping it kills the child (`kill_on_drop`), so a manager that
/// dies takes no orphan replica with it.
pub struct ReplicaProcess {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    pid: u32,
}

/// The child's stdout, read by its own task.
pub struct ResponseReader {
    stdout: BufReader<ChildStdout>,
}

impl ReplicaProcess {
    pub fn spawn(spec: &ReplicaSpec) -> io::Result<(ReplicaProcess, ResponseReader)> {
        let mut child = Command::new(&spec.exe)
            .arg("replica")
            .arg("--impl")
            .arg(spec.implementation.as_str())
            .arg("--dir")
            .arg(&spec.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a terminal's Ctrl-C must not kill the replica before its
            // manager has shut down cleanly. The manager alone controls it (EOF on stdin ends
            // it; replacement kills it).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or(0);
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("child has no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("child has no stdout"))?;
        Ok((
            ReplicaProcess {
                child,
                stdin: BufWriter::with_capacity(1 << 20, stdin),
                pid,
            },
            ResponseReader {
                stdout: BufReader::with_capacity(1 << 20, stdout),
            },
        ))
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Queues one request; call [`flush`](Self::flush) after a batch.
    pub async fn send(&mut self, req: &ToReplica) -> io::Result<()> {
        self.stdin.write_all(&frame::encode(req)?).await
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.stdin.flush().await
    }

    /// Kills the child at once (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// `Some(status)` if the child has exited.
    pub fn try_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl ResponseReader {
    /// The next response; `None` at EOF (the child exited).
    pub async fn next(&mut self) -> io::Result<Option<FromReplica>> {
        let mut header = [0u8; 4];
        match self.stdout.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut body = vec![0; frame::body_len(header)?];
        self.stdout.read_exact(&mut body).await?;
        frame::decode(&body).map(Some)
    }
}
