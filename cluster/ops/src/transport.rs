//! UDP sockets for one node, resolving protocol destinations to addresses, with optional
//! loss injection (this machine's kernel has no netem, so the transport itself can drop,
//! duplicate and delay datagrams, from a seed, when the configuration asks for it).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tessera_protocol::{Destination, Transmit};
use tokio::net::UdpSocket;

use crate::config::{Config, FaultsSection, MulticastMode};

/// Kernel buffers big enough that a burst at full load is not dropped by the receiver.
const SOCKET_BUFFER: usize = 8 << 20;

/// Addresses of the cluster's nodes, from the configuration.
#[derive(Debug, Clone)]
pub struct Peers {
    /// Every sequencer node, by id.
    pub sequencers: Vec<(u8, SocketAddr)>,
    pub replica_managers: Vec<SocketAddr>,
    /// `Some` in multicast mode.
    pub group: Option<SocketAddr>,
}

impl Peers {
    pub fn from_config(cfg: &Config) -> Self {
        Peers {
            sequencers: cfg.sequencer_nodes(),
            replica_managers: cfg.replica_manager.iter().map(|r| r.address).collect(),
            group: (cfg.network.mode == MulticastMode::Multicast).then_some(cfg.network.group),
        }
    }
}

/// Seeded datagram faults. SplitMix64: tiny, and reproducible across platforms.
struct Injector {
    cfg: FaultsSection,
    state: u64,
}

enum Fate {
    Drop,
    Send { copies: u8, delay: Option<Duration> },
}

impl Injector {
    fn next_f64(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn fate(&mut self) -> Fate {
        if self.next_f64() < self.cfg.drop {
            return Fate::Drop;
        }
        let copies = if self.next_f64() < self.cfg.duplicate {
            2
        } else {
            1
        };
        let delay = (self.next_f64() < self.cfg.reorder).then(|| {
            let max = self.cfg.max_delay_ms.max(1) as f64;
            Duration::from_micros((self.next_f64() * max * 1000.0) as u64)
        });
        Fate::Send { copies, delay }
    }
}

pub struct Transport {
    socket: Arc<UdpSocket>,
    group_rx: Option<UdpSocket>,
    peers: Peers,
    injector: Option<Mutex<Injector>>,
}

fn udp_socket(bind: SocketAddr, reuse: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse {
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
    }
    // Best effort: the kernel caps these at net.core.*mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&bind.into())?;
    Ok(socket)
}

impl Transport {
    /// Binds `bind` for unicast. `join_group` (replica managers in multicast mode) also joins
    /// the configured group. Multicast is sent with the configured interface and TTL.
    pub fn bind(cfg: &Config, bind: SocketAddr, join_group: bool, salt: u64) -> io::Result<Self> {
        let socket = udp_socket(bind, false)?;
        let peers = Peers::from_config(cfg);
        if peers.group.is_some() {
            socket.set_multicast_if_v4(&cfg.network.interface)?;
            socket.set_multicast_ttl_v4(cfg.network.ttl)?;
            socket.set_multicast_loop_v4(true)?;
        }
        let group_rx = match (join_group, peers.group) {
            (true, Some(SocketAddr::V4(group))) => Some(join(group, cfg.network.interface)?),
            _ => None,
        };
        let injector = cfg.faults.enabled().then(|| {
            Mutex::new(Injector {
                cfg: cfg.faults.clone(),
                state: cfg.faults.seed ^ salt.wrapping_mul(0xa076_1d64_78bd_642f),
            })
        });
        Ok(Transport {
            socket: Arc::new(UdpSocket::from_std(socket.into())?),
            group_rx: group_rx.map(UdpSocket::from_std).transpose()?,
            peers,
            injector,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn resolve(&self, to: Destination) -> Vec<SocketAddr> {
        match to {
            Destination::Addr(a) => vec![a],
            Destination::Sequencer(id) => self
                .peers
                .sequencers
                .iter()
                .filter(|(n, _)| *n == id)
                .map(|(_, a)| *a)
                .collect(),
            Destination::ReplicaManager(r) => self
                .peers
                .replica_managers
                .get(r.index())
                .copied()
                .into_iter()
                .collect(),
            Destination::AllReplicaManagers => match self.peers.group {
                Some(g) => vec![g],
                None => self.peers.replica_managers.clone(),
            },
        }
    }

    /// Sends one datagram. Send errors are logged and otherwise ignored: to the protocol a
    /// failed send is a lost datagram, which it already recovers from.
    pub async fn send(&self, t: &Transmit) {
        for addr in self.resolve(t.to) {
            let fate = match &self.injector {
                None => Fate::Send {
                    copies: 1,
                    delay: None,
                },
                Some(inj) => match inj.lock() {
                    Ok(mut inj) => inj.fate(),
                    Err(_) => Fate::Send {
                        copies: 1,
                        delay: None,
                    },
                },
            };
            match fate {
                Fate::Drop => {}
                Fate::Send {
                    copies,
                    delay: None,
                } => {
                    for _ in 0..copies {
                        if let Err(e) = self.socket.send_to(&t.datagram, addr).await {
                            tracing::debug!(%addr, error = %e, "send failed");
                        }
                    }
                }
                Fate::Send {
                    copies,
                    delay: Some(d),
                } => {
                    let socket = Arc::clone(&self.socket);
                    let bytes = t.datagram.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(d).await;
                        for _ in 0..copies {
                            let _ = socket.send_to(&bytes, addr).await;
                        }
                    });
                }
            }
        }
    }

    /// Receives the next datagram from the unicast socket or the group.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let Some(group) = &self.group_rx else {
            return self.socket.recv_from(buf).await;
        };
        loop {
            let ready = tokio::select! {
                r = self.socket.readable() => r.map(|_| &*self.socket),
                r = group.readable() => r.map(|_| group),
            }?;
            match ready.try_recv_from(buf) {
                Ok(x) => return Ok(x),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Transport {
    /// The next datagram that is already queued on the unicast socket or the group, without
    /// waiting: `Ok(None)` when both are empty. The node loops call it after each awaited
    /// [`recv`](Self::recv) to take a whole burst in one wakeup (bounded by
    /// [`DRAIN_MAX`]), so the state machine is polled, and replies are batched, once per
    /// burst instead of once per datagram.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        let sockets = std::iter::once(&*self.socket).chain(self.group_rx.as_ref());
        for socket in sockets {
            match socket.try_recv_from(buf) {
                Ok(x) => return Ok(Some(x)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// Most datagrams a node takes per wakeup (the first awaited, the rest from
/// [`Transport::try_recv`]) before it polls its state machine and sends; bounds the time
/// between two polls under a flood.
pub const DRAIN_MAX: usize = 64;

/// A socket bound to the group address itself (not 0.0.0.0), so that it receives only this
/// group's traffic even when another cluster on the host uses the same port.
fn join(group: SocketAddrV4, interface: Ipv4Addr) -> io::Result<std::net::UdpSocket> {
    let socket = udp_socket(SocketAddr::V4(group), true)?;
    socket.join_multicast_v4(group.ip(), &interface)?;
    Ok(socket.into())
}
