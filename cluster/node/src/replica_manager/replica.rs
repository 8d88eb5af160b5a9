//! The replica child as the manager sees it: a process, the requests it owes answers to (in
//! order), and a channel of its answers.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::mpsc;

use crate::replica_host::{HostRequest, HostResponse, ReplicaProcess, ReplicaSpec};

/// How long a replica may take to open its storage and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What the manager is waiting for from its replica, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    Apply(u64),
    Sync,
    Digest,
    /// An export after this seq: a checkpoint.
    Checkpoint(u64),
    Import,
    Chaos,
}

pub struct Replica {
    process: ReplicaProcess,
    responses: mpsc::UnboundedReceiver<HostResponse>,
    pending: VecDeque<Pending>,
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
        let (process, mut reader) =
            ReplicaProcess::spawn(spec).context("starting the replica process")?;
        let applied = match tokio::time::timeout(START_TIMEOUT, reader.next()).await {
            Ok(Ok(Some(HostResponse::Ready { applied }))) => applied,
            Ok(other) => bail!("replica did not start: {other:?}"),
            Err(_) => bail!("replica did not start within {START_TIMEOUT:?}"),
        };
        let (tx, responses) = mpsc::unbounded_channel();
        // EOF or a broken frame both end the channel: the manager treats that as the replica
        // having died.
        tokio::spawn(async move {
            while let Ok(Some(r)) = reader.next().await {
                if tx.send(r).is_err() {
                    break;
                }
            }
        });
        Ok((
            Replica {
                process,
                responses,
                pending: VecDeque::new(),
            },
            applied,
        ))
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Queues a request; [`flush`](Self::flush) after a batch.
    pub async fn send(&mut self, req: HostRequest, expect: Pending) -> anyhow::Result<()> {
        self.process
            .send(&req)
            .await
            .context("writing to the replica")?;
        self.pending.push_back(expect);
        Ok(())
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        // A replica that died mid-write shows up as EOF on its responses; that path replaces it.
        if let Err(e) = self.process.flush().await {
            tracing::warn!(error = %e, "flushing to the replica failed");
        }
        Ok(())
    }

    pub fn has_pending(&self, f: impl Fn(&Pending) -> bool) -> bool {
        self.pending.iter().any(f)
    }

    pub fn idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Requests written and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// The next answer with what it answers; `None` when the replica has died.
    pub async fn next(&mut self) -> Option<(Pending, HostResponse)> {
        let resp = self.responses.recv().await?;
        // An answer nobody asked for means the replica is broken: treated as dead.
        self.pending.pop_front().map(|p| (p, resp))
    }

    /// Like [`next`](Self::next) for an answer that has already arrived, without waiting:
    /// `None` when there is none yet, `Some(None)` when the replica has died.
    pub fn try_next(&mut self) -> Option<Option<(Pending, HostResponse)>> {
        match self.responses.try_recv() {
            Ok(resp) => Some(self.pending.pop_front().map(|p| (p, resp))),
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
