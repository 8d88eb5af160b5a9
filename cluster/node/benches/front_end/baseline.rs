//! The unreplicated baseline: one `MemoryReplica` behind a UDP server thread, reached with
//! the same authenticated wire encoding as the cluster.

use super::*;

/// The baseline server speaks as replica manager 1 (`main.rs`), so that is whom the client's
/// datagrams carry a tag for.
const BASELINE_SERVER: Destination = Destination::ReplicaManager(ReplicaId::ALL[0]);

pub(crate) fn baseline_link(cfg: &Config, me: NodeId) -> anyhow::Result<Link> {
    let mut lc = tessera_node::node_link_config(cfg, me, None)?;
    lc.max_datagram = MAX_DATAGRAM;
    Ok(Link::new(lc)?)
}

pub(crate) fn big_buffers(socket: &StdUdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
}

/// One replica, no replication, on its own OS thread (its own core budget, as a process
/// would have). Stops and is joined on drop.
pub(crate) struct BaselineServer {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) thread: Option<JoinHandle<()>>,
}

impl BaselineServer {
    pub(crate) fn start(link: Link) -> anyhow::Result<BaselineServer> {
        let socket = StdUdpSocket::bind("127.0.0.1:0")?;
        big_buffers(&socket);
        // Bounded: the thread re-checks `stop` at least this often.
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("baseline-replica".into())
            .spawn(move || serve(socket, link, &flag))?;
        Ok(BaselineServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Applies every submitted request in arrival order and answers each `Submit` datagram with
/// `Reply` datagrams carrying as many entries as fit (the replica managers batch the same way).
pub(crate) fn serve(socket: StdUdpSocket, mut link: Link, stop: &AtomicBool) {
    let mut replica = replica_memory::MemoryReplica::new();
    let mut seq = 0u64;
    let budget = link.max_payload(Destination::Addr(SocketAddr::from(([0, 0, 0, 0], 0))));
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue; // timeout: look at `stop` again
        };
        let Some((_, Message::Submit { entries, .. })) = link.receive(Instant::now(), &buf[..n])
        else {
            continue;
        };
        let mut batch: Vec<ReplyEntry> = Vec::new();
        let mut used = 4;
        for sub in entries {
            seq += 1;
            // The sequencer orders only requests that decode.
            let Ok(request) = Request::decode(&sub.request) else {
                continue;
            };
            let Ok(reply) = replica.apply(seq, &request) else {
                continue;
            };
            let entry = ReplyEntry {
                seq,
                id: sub.id,
                replica: ReplicaId::ALL[0],
                reply: reply.encode(),
            };
            let size = postcard::experimental::serialized_size(&entry).unwrap_or(budget);
            if !batch.is_empty() && used + size > budget {
                send_message(
                    &socket,
                    &link,
                    from,
                    Message::Reply(std::mem::take(&mut batch)),
                );
                used = 4;
            }
            used += size;
            batch.push(entry);
        }
        if !batch.is_empty() {
            send_message(&socket, &link, from, Message::Reply(batch));
        }
    }
}

pub(crate) fn send_message(socket: &StdUdpSocket, link: &Link, to: SocketAddr, msg: Message) {
    if let Ok(grams) = link.encode(&msg, Destination::Addr(to)) {
        for g in grams {
            let _ = socket.send_to(&g, to);
        }
    }
}

pub(crate) type BaselineJob = (Vec<u8>, oneshot::Sender<Vec<u8>>);

/// The client side of the baseline, shaped like `FrontEndClient`: callers hand encoded
/// requests to one task that owns the socket and the link, which packs whatever is queued
/// into `Submit` datagrams and routes `Reply` entries back. No retransmission (loopback, no
/// loss injection): a lost datagram shows up as an error after [`SUBMIT_CAP`].
#[derive(Clone)]
pub(crate) struct BaselineClient {
    pub(crate) tx: mpsc::Sender<BaselineJob>,
}

impl BaselineClient {
    pub(crate) fn start(link: Link, server: SocketAddr) -> anyhow::Result<BaselineClient> {
        let socket = StdUdpSocket::bind("127.0.0.1:0")?;
        big_buffers(&socket);
        socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(baseline_drive(link, socket, server, rx));
        Ok(BaselineClient { tx })
    }

    pub(crate) async fn submit(&self, request: &Request) -> Result<Reply, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((request.encode(), tx))
            .await
            .map_err(|_| "baseline client stopped".to_string())?;
        let bytes = rx
            .await
            .map_err(|_| "baseline client stopped".to_string())?;
        Reply::decode(&bytes).map_err(|e| e.to_string())
    }
}

pub(crate) async fn baseline_drive(
    mut link: Link,
    socket: tokio::net::UdpSocket,
    server: SocketAddr,
    mut rx: mpsc::Receiver<BaselineJob>,
) {
    let reply_to = socket.local_addr().unwrap_or(server);
    let budget = link.max_payload(BASELINE_SERVER);
    let mut waiting: HashMap<u64, oneshot::Sender<Vec<u8>>> = HashMap::new();
    let mut next = 1u64;
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            job = rx.recv() => {
                let Some(first) = job else { return };
                let mut jobs = vec![first];
                while let Ok(more) = rx.try_recv() {
                    jobs.push(more);
                }
                let mut entries = Vec::new();
                let mut used = 16;
                for (request, respond) in jobs {
                    let id = RequestId { front_end: 1, number: next };
                    waiting.insert(next, respond);
                    next += 1;
                    let sub = Submission {
                        id,
                        reply_to,
                        request,
                        trace: String::new(),
                    };
                    let size = postcard::experimental::serialized_size(&sub).unwrap_or(budget);
                    if !entries.is_empty() && used + size > budget {
                        let msg = Message::Submit { floor: 0, entries: std::mem::take(&mut entries) };
                        send_async(&socket, &link, server, &msg).await;
                        used = 16;
                    }
                    used += size;
                    entries.push(sub);
                }
                if !entries.is_empty() {
                    send_async(&socket, &link, server, &Message::Submit { floor: 0, entries }).await;
                }
            }
            r = socket.recv_from(&mut buf) => {
                let Ok((n, _)) = r else { continue };
                if let Some((_, Message::Reply(entries))) = link.receive(Instant::now(), &buf[..n]) {
                    for e in entries {
                        if let Some(respond) = waiting.remove(&e.id.number) {
                            let _ = respond.send(e.reply);
                        }
                    }
                }
            }
        }
    }
}

pub(crate) async fn send_async(
    socket: &tokio::net::UdpSocket,
    link: &Link,
    to: SocketAddr,
    msg: &Message,
) {
    if let Ok(grams) = link.encode(msg, BASELINE_SERVER) {
        for g in grams {
            let _ = socket.send_to(&g, to).await;
        }
    }
}
