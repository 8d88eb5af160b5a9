//! The replica child as the manager's shell sees it: a process to write requests to, and a
//! channel of its answers (in order; what each answers is the protocol machine's business).

use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tessera_protocol::replica_manager::{FromReplica, ToReplica};
use tokio::sync::mpsc;

use crate::replica_host::{ReplicaProcess, ReplicaSpec};

/// How long a replica may take to open its storage and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// A replica that exits before it is ready is started again this many times in all, this
/// far apart (its previous process may still be letting go of its storage).
const START_ATTEMPTS: u32 = 10;
const START_RETRY: Duration = Duration::from_millis(200);

pub struct Replica {
    process: ReplicaProcess,
    answers: mpsc::UnboundedReceiver<FromReplica>,
}

impl Replica {
    /// Starts the replica process (on an emptied directory if `fresh`) and waits until it is
    /// ready; returns it with the seq it has applied.
    pub async fn start(spec: &ReplicaSpec, fresh: bool) -> anyhow::Result<(Replica, u64)> {
        if fresh && spec.dir.exists() {
            std::fs::remove_dir_all(&spec.dir)
                .with_context(|| format!("wiping {}", spec.dir.display()))?;
        }
        std::fs::create_dir_all(&spec.dir)
            .with_context(|| format!("creating {}", spec.dir.display()))?;
        let mut attempt = 1;
        let (process, mut reader, applied) = loop {
            let (process, mut reader) =
                ReplicaProcess::spawn(spec).context("starting the replica process")?;
            match tokio::time::timeout(START_TIMEOUT, reader.next()).await {
                Ok(Ok(Some(FromReplica::Ready { applied }))) => break (process, reader, applied),
                // It exited before it was ready. After a `kill -9` of this manager, the
                // previous replica process may still hold its storage's lock while it sees
                // its stdin close and exits: try again, a bounded number of times.
                Ok(Ok(None)) if attempt < START_ATTEMPTS => {
                    tracing::warn!(
                        attempt,
                        "the replica exited before it was ready; starting it again"
                    );
                    attempt += 1;
                    tokio::time::sleep(START_RETRY).await;
                }
                Ok(other) => bail!("replica did not start: {other:?}"),
                Err(_) => bail!("replica did not start within {START_TIMEOUT:?}"),
            }
        };
        let (tx, answers) = mpsc::unbounded_channel();
        // EOF or a broken frame both end the channel: the manager treats that as the replica
        // having died.
        tokio::spawn(async move {
            while let Ok(Some(r)) = reader.next().await {
                if tx.send(r).is_err() {
                    break;
                }
            }
        });
        Ok((Replica { process, answers }, applied))
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Queues a request; [`flush`](Self::flush) after a batch. A replica that died mid-write
    /// shows up as the end of its answers, which is how the manager learns of it.
    pub async fn send(&mut self, request: &ToReplica) {
        if let Err(e) = self.process.send(request).await {
            tracing::warn!(error = %e, "writing to the replica failed");
        }
    }

    pub async fn flush(&mut self) {
        if let Err(e) = self.process.flush().await {
            tracing::warn!(error = %e, "flushing to the replica failed");
        }
    }

    /// The next answer; `None` when the replica has died.
    pub async fn next(&mut self) -> Option<FromReplica> {
        self.answers.recv().await
    }

    /// Like [`next`](Self::next) for an answer that has already arrived, without waiting:
    /// `None` when there is none yet, `Some(None)` when the replica has died.
    pub fn try_next(&mut self) -> Option<Option<FromReplica>> {
        match self.answers.try_recv() {
            Ok(answer) => Some(Some(answer)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
        }
    }

    pub fn signal(&self, sig: Signal) {
        if let Ok(pid) = i32::try_from(self.pid()) {
            if let Err(e) = kill(Pid::from_raw(pid), sig) {
                tracing::warn!(error = %e, ?sig, "signalling the replica failed");
            }
        }
    }

    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_exited()
    }

    pub async fn kill(&mut self) {
        self.process.kill().await;
    }
}
