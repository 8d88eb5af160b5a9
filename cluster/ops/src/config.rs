//! One TOML file describes a cluster. `deploy/local.toml` (embedded in the binary) is the
//! default for one machine; every key has a default, so a file need only say what differs.
//! Unknown keys are errors (a typo must not silently fall back to a default), and every
//! error names the key it is about.
//!
//! The defaults live here and nowhere else: `deploy/local.toml` may only restate them (a test
//! holds it to that), so the file and the code cannot drift apart. A [`Config`] also writes
//! itself back as TOML ([`Config::to_toml_string`]) that loads into an equal value, so tools
//! and tests can build a cluster file from a value instead of pasting templates.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_protocol::wire::{ClusterId, NodeId, PublicKey, RequestId, Roster};
use tessera_protocol::{Timeouts, REPLICAS};

/// The embedded default configuration.
pub const LOCAL_TOML: &str = include_str!("../../../deploy/local.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
    /// Only a value that no file could have produced fails to serialize (a path that is not
    /// UTF-8, `faults.seed` beyond TOML's 64-bit signed integers).
    #[error("cannot write the configuration as TOML: {0}")]
    Serialize(#[from] toml::ser::Error),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub cluster: ClusterSection,
    pub network: NetworkSection,
    pub sequencer: SequencerSection,
    pub replica_manager: Vec<ReplicaManagerSection>,
    pub front_end: FrontEndSection,
    pub gateway: GatewaySection,
    pub timeouts: TimeoutsSection,
    pub recovery: RecoverySection,
    pub exactly_once: ExactlyOnceSection,
    pub faults: FaultsSection,
    pub operator: OperatorSection,
}

/// Calls with a `wsa:MessageID` execute at most once: every replica remembers the ones it
/// answered, within these bounds (`docs/domain.md`, "Repeated calls"). They decide what is in
/// the replicated state, so every node of a cluster must have the same values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExactlyOnceSection {
    /// A call is forgotten this long (in the sequencer's time) after it took effect; a retry
    /// after that executes again.
    pub max_age_ms: u64,
    /// At most this many calls are remembered; beyond it the oldest is forgotten.
    pub max_entries: u64,
}

impl Default for ExactlyOnceSection {
    fn default() -> Self {
        ExactlyOnceSection {
            max_age_ms: 3_600_000,
            max_entries: 100_000,
        }
    }
}

/// Most calls `[exactly_once] max_entries` may ask every replica to remember (each is a few
/// hundred bytes in every replica and in every snapshot).
pub const MAX_REMEMBERED_CALLS: u64 = 10_000_000;

/// The operator's identity: `tesserad status`, `tesserad chaos` and the CLI's `status` sign
/// with its key, and nodes answer status and chaos requests from it alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorSection {
    /// When not given: `cluster.key_dir/operator.pub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
    /// The operator's secret key file on this host, for the tools (`--key FILE` overrides
    /// it); default: `cluster.key_dir/operator.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

/// Failure detection and recovery (`docs/recovery.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoverySection {
    /// Every this many sequence numbers each replica's state is exported and its digest
    /// compared with the others'; state transfer starts from these checkpoints. An export
    /// costs the whole state, so the interval spreads it over many calls (at 1000 it took a
    /// sixth of the cluster's CPU under load: `docs/performance.md`, "Checkpoint interval").
    pub checkpoint_interval: u64,
    /// A replica with work outstanding this long without answering is considered hung.
    pub hang_threshold_ms: u64,
    /// Resend interval of votes, probes and snapshot queries between replica managers.
    pub retry_ms: u64,
}

impl Default for RecoverySection {
    fn default() -> Self {
        RecoverySection {
            checkpoint_interval: 10_000,
            hang_threshold_ms: 1500,
            retry_ms: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// Distinguishes clusters sharing a network; hashed into every datagram header.
    pub name: String,
    /// Where this host's node key files are (`NAME.key`, and `NAME.pub` for the public keys
    /// the file does not list); default: `DATA_DIR/keys`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_dir: Option<PathBuf>,
    /// Where the sequencer log and the replicas' data live; relative paths are relative to
    /// the working directory of `tesserad`.
    pub data_dir: PathBuf,
    pub max_message_bytes: usize,
    /// As written in the file; `None` takes the default for where the nodes are
    /// ([`Config::max_datagram_bytes`]), which is what every node uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_datagram_bytes: Option<usize>,
}

/// The default `cluster.max_datagram_bytes` when any node is on another host: a 1500-byte
/// Ethernet MTU less the IP and UDP headers, with room to spare for tunnels, so that no
/// datagram is IP-fragmented (one lost fragment loses the whole datagram).
pub const LAN_MAX_DATAGRAM_BYTES: usize = 1400;

/// The default `cluster.max_datagram_bytes` when every node is on this host: loopback's MTU
/// is 64 KiB, so bigger datagrams travel unfragmented and carry bigger batches.
pub const LOOPBACK_MAX_DATAGRAM_BYTES: usize = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MulticastMode {
    /// Real IP multicast to `group` on `interface`.
    Multicast,
    /// One unicast datagram per replica manager, for networks without multicast.
    Unicast,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    pub mode: MulticastMode,
    pub group: SocketAddr,
    /// Local address of the interface multicast is sent and joined on.
    pub interface: Ipv4Addr,
    /// Multicast TTL; 0 keeps datagrams on this host.
    pub ttl: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequencerSection {
    pub address: SocketAddr,
    /// Entries kept for retransmission; a replica further behind catches up by state transfer.
    pub retain_max: usize,
    /// Recent entries kept even when every replica has them, so that a replaced replica can
    /// replay from its checkpoint; must exceed `recovery.checkpoint_interval`.
    pub retain_min: usize,
    /// Where Prometheus scrapes the sequencer (`GET /metrics`, plain HTTP, no
    /// authentication: a loopback or private address). None: no metrics listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<SocketAddr>,
    /// The sequencer's identity; when not given: `cluster.key_dir/sequencer.pub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
    /// Further sequencer nodes (ids 2..=7), for failover (`docs/protocol.md`, "Sequencer
    /// failover"): this section's node is sequencer 1, the first by priority, then these in
    /// the order listed. An entry counts once a majority of the nodes hold it, so list an
    /// even number here (three nodes in all survive one lost, five survive two). None: one
    /// sequencer, restarted from its log where it runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<SequencerNode>,
}

/// Another sequencer node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequencerNode {
    pub id: u8,
    pub address: SocketAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<SocketAddr>,
    /// When not given: `cluster.key_dir/sequencer-ID.pub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    Memory,
    Sqlite,
    Eventlog,
    Kv,
}

impl Implementation {
    pub fn as_str(self) -> &'static str {
        match self {
            Implementation::Memory => "memory",
            Implementation::Sqlite => "sqlite",
            Implementation::Eventlog => "eventlog",
            Implementation::Kv => "kv",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaManagerSection {
    pub id: u8,
    pub implementation: Implementation,
    /// Unicast address: acks and NACKs go out from here, retransmissions and re-asks come in.
    pub address: SocketAddr,
    /// Where Prometheus scrapes this manager (`GET /metrics`, plain HTTP, no authentication:
    /// a loopback or private address). None: no metrics listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<SocketAddr>,
    /// This manager's identity (`tesserad keygen`); when not given: `cluster.key_dir/rm-N.pub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontEndSection {
    /// Address the front end binds; port 0 picks a free one.
    pub address: SocketAddr,
    /// Front end id within the cluster (1..=1048575), part of its wire identity and of every
    /// request id it issues (`RequestId::incarnation`).
    pub id: u32,
    /// When not given: `cluster.key_dir/front-end-ID.pub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
    /// The cluster's other front ends (more gateways, or a bench's clients): each is an
    /// identity of its own, which the nodes must know to accept it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<FrontEndIdentity>,
    /// Read-only calls without a `wsa:MessageID` (`getEventSchedule`,
    /// `listReservationSlotAvailable`) skip the sequencer's log: the primary's commit point,
    /// then two replicas that agree at or beyond it (`docs/protocol.md`, "Fast reads").
    /// `false`: every call is ordered.
    pub fast_reads: bool,
    /// A read takes the fast path only while fewer calls than this are in flight at this
    /// front end; beyond it the cores are the limit and an ordered read, riding in the
    /// writes' batches, costs less (`docs/performance.md`, "Fast reads under load"). 0:
    /// every read is ordered, as with `fast_reads = false`.
    pub fast_reads_max_in_flight: u32,
}

/// A further gateway of `tesserad up --gateways N` ([`Config::add_local_gateways`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalGateway {
    pub front_end: u32,
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
}

/// Another front end of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontEndIdentity {
    pub id: u32,
    /// When not given: `cluster.key_dir/front-end-ID.pub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
}

/// The SOAP endpoint (`tesserad gateway`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// The endpoint URL clients call, written into the served WSDL (differs from `listen`
    /// behind a proxy). When not given: `http://LISTEN/ws/reservation`, or `https://` with
    /// `[gateway.tls]`.
    #[serde(default)]
    pub public_url: String,
    pub max_body_bytes: usize,
    /// Deadline for one SOAP call, from accepting it to the cluster's answer.
    pub request_timeout_ms: u64,
    /// Calls processed at once; more get a clean 503 "overloaded" fault.
    pub max_in_flight: usize,
    /// Runtime threads of `tesserad gateway`: 1 (a single event loop, best when the gateway
    /// shares a small machine with the cluster) or more on a host of its own.
    pub threads: usize,
    /// Deadline for receiving a call's body, before it takes an in-flight slot.
    pub body_timeout_ms: u64,
    /// Connections open at once from one client address.
    pub max_connections_per_address: usize,
    /// HTTPS on the listener (`[gateway.tls]`); plain HTTP without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// Who may call (`[gateway.auth]`). Without it: off on a loopback listen address, and
    /// `tesserad` refuses to start the gateway on any other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSection>,
    /// Collect metrics (`GET /metrics`, the dashboard's chart, the periodic log summary).
    pub metrics: bool,
    /// A second, plain-HTTP listener that serves only `GET /metrics`, without
    /// authentication, for Prometheus on a private interface (`/metrics` on `listen` needs
    /// the operator grant when authentication is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// One line per call at `info` on the `access` target (otherwise at `debug`).
    pub access_log: bool,
    /// Seconds between two summary lines (calls, faults, latency) at `info`; 0: none.
    pub summary_secs: u64,
}

/// `[gateway.tls]`: PEM files. `cert` may hold a chain, leaf first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Off,
    Required,
}

/// `[gateway.auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    pub mode: AuthMode,
    /// The user file (`tesserad user add|remove|list`); required with `mode = "required"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<PathBuf>,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080/ws/reservation".into(),
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            max_in_flight: 1024,
            threads: 1,
            body_timeout_ms: 5_000,
            max_connections_per_address: 256,
            tls: None,
            auth: None,
            metrics: true,
            metrics_listen: None,
            access_log: false,
            summary_secs: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsSection {
    pub heartbeat_ms: u64,
    pub ack_ms: u64,
    pub nack_ms: u64,
    pub retransmit_ms: u64,
    pub submit_retransmit_ms: u64,
    pub reask_ms: u64,
    pub request_timeout_ms: u64,
    pub linger_floor_ms: u64,
    pub linger_cap_ms: u64,
    pub liveness_ms: u64,
    pub reassembly_ms: u64,
    /// Least time between two group commits of a replica (`docs/recovery.md`, "Durability").
    pub sync_ms: u64,
}

/// Loss injection in the transport, for tests only: every datagram sent is dropped,
/// duplicated or delayed (which reorders it) with these probabilities, from this seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultsSection {
    pub drop: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub max_delay_ms: u64,
    pub seed: u64,
}

impl FaultsSection {
    pub fn enabled(&self) -> bool {
        self.drop > 0.0 || self.duplicate > 0.0 || self.reorder > 0.0
    }
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            name: "tessera-local".into(),
            key_dir: None,
            data_dir: PathBuf::from("tessera-data"),
            max_message_bytes: 4 << 20,
            max_datagram_bytes: None,
        }
    }
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            mode: MulticastMode::Multicast,
            group: SocketAddr::from(([239, 255, 74, 1], 7500)),
            interface: Ipv4Addr::LOCALHOST,
            ttl: 0,
        }
    }
}

impl Default for SequencerSection {
    fn default() -> Self {
        SequencerSection {
            address: SocketAddr::from(([127, 0, 0, 1], 7400)),
            retain_max: 100_000,
            retain_min: 30_000,
            metrics_address: None,
            public_key: None,
            others: Vec::new(),
        }
    }
}

impl Default for FrontEndSection {
    fn default() -> Self {
        FrontEndSection {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            id: 1,
            public_key: None,
            others: Vec::new(),
            fast_reads: true,
            fast_reads_max_in_flight: 16,
        }
    }
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        let t = Timeouts::default();
        let ms = |d: Duration| d.as_millis() as u64;
        TimeoutsSection {
            heartbeat_ms: ms(t.heartbeat),
            ack_ms: ms(t.ack),
            nack_ms: ms(t.nack),
            retransmit_ms: ms(t.retransmit),
            submit_retransmit_ms: ms(t.submit_retransmit),
            reask_ms: ms(t.reask),
            request_timeout_ms: ms(t.request_timeout),
            linger_floor_ms: ms(t.linger_floor),
            linger_cap_ms: ms(t.linger_cap),
            liveness_ms: ms(t.liveness),
            reassembly_ms: 5000,
            sync_ms: 50,
        }
    }
}

fn default_replica_managers() -> Vec<ReplicaManagerSection> {
    use Implementation::*;
    [Memory, Sqlite, Eventlog, Kv]
        .into_iter()
        .zip(1u8..)
        .map(|(implementation, id)| ReplicaManagerSection {
            id,
            implementation,
            address: SocketAddr::from(([127, 0, 0, 1], 7400 + u16::from(id))),
            metrics_address: None,
            public_key: None,
        })
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster: ClusterSection::default(),
            network: NetworkSection::default(),
            sequencer: SequencerSection::default(),
            replica_manager: default_replica_managers(),
            front_end: FrontEndSection::default(),
            gateway: GatewaySection::default(),
            timeouts: TimeoutsSection::default(),
            recovery: RecoverySection::default(),
            exactly_once: ExactlyOnceSection::default(),
            faults: FaultsSection::default(),
            operator: OperatorSection::default(),
        }
    }
}

impl Config {
    /// Loads `path`, or the embedded `deploy/local.toml` when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => Config::parse(LOCAL_TOML, "deploy/local.toml (embedded)"),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                Config::parse(&text, &p.display().to_string())
            }
        }
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        // A removed key gets its own error, not toml's generic "unknown field".
        if let Ok(doc) = text.parse::<toml::Table>() {
            if doc.get("cluster").and_then(|c| c.get("secret")).is_some() {
                return Err(ConfigError::Invalid {
                    origin: origin.to_owned(),
                    key: "cluster.secret".into(),
                    message: "is no longer used: every node now has its own key. Make them with \
                              `tesserad keygen --config FILE --out DIR`, list the public keys it \
                              prints (`public_key` in [sequencer], each [[replica_manager]], \
                              [front_end] and [operator]), put each node's DIR/NAME.key on its \
                              host in `cluster.key_dir`, and delete `secret`"
                        .into(),
                });
            }
        }
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            // toml's message names the offending key and shows the line.
            message: e.to_string(),
        })?;
        if cfg.gateway.public_url.is_empty() {
            let scheme = if cfg.gateway.tls.is_some() {
                "https"
            } else {
                "http"
            };
            cfg.gateway.public_url = format!("{scheme}://{}/ws/reservation", cfg.gateway.listen);
        }
        cfg.validate(origin)?;
        Ok(cfg)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            key: key.to_owned(),
            message,
        };
        if self.cluster.name.is_empty() {
            return Err(bad("cluster.name", "must not be empty".into()));
        }
        if self
            .cluster
            .max_datagram_bytes
            .is_some_and(|n| !(128..=65_000).contains(&n))
        {
            return Err(bad(
                "cluster.max_datagram_bytes",
                "must be between 128 and 65000".into(),
            ));
        }
        if self.cluster.max_message_bytes < 64 * 1024 {
            return Err(bad(
                "cluster.max_message_bytes",
                "must be at least 65536".into(),
            ));
        }
        if self.network.mode == MulticastMode::Multicast {
            let ip = self.network.group.ip();
            if !ip.is_multicast() || !ip.is_ipv4() {
                return Err(bad(
                    "network.group",
                    format!("{ip} is not an IPv4 multicast address (224.0.0.0/4)"),
                ));
            }
        }
        if self.network.ttl > 255 {
            return Err(bad("network.ttl", "must be 0..=255".into()));
        }
        if self.replica_manager.len() != usize::from(REPLICAS) {
            return Err(bad(
                "replica_manager",
                format!(
                    "exactly {REPLICAS} [[replica_manager]] entries are required, found {}",
                    self.replica_manager.len()
                ),
            ));
        }
        for (i, rm) in self.replica_manager.iter().enumerate() {
            if usize::from(rm.id) != i + 1 {
                return Err(bad(
                    &format!("replica_manager[{i}].id"),
                    format!(
                        "expected {} (ids are 1..={REPLICAS} in order), found {}",
                        i + 1,
                        rm.id
                    ),
                ));
            }
        }
        let mut sequencers = vec![1u8];
        for (i, o) in self.sequencer.others.iter().enumerate() {
            if !(2..=NodeId::MAX_SEQUENCERS).contains(&o.id) || sequencers.contains(&o.id) {
                return Err(bad(
                    &format!("sequencer.others[{i}].id"),
                    format!(
                        "{} must be 2..={} (the [sequencer] section is 1) and not repeat another",
                        o.id,
                        NodeId::MAX_SEQUENCERS
                    ),
                ));
            }
            sequencers.push(o.id);
        }
        let max_id = RequestId::MAX_FRONT_END;
        if self.front_end.id == 0 || self.front_end.id > max_id {
            return Err(bad("front_end.id", format!("must be 1..={max_id}")));
        }
        let mut ids = vec![self.front_end.id];
        for o in &self.front_end.others {
            if o.id == 0 || o.id > max_id || ids.contains(&o.id) {
                return Err(bad(
                    "front_end.others",
                    format!(
                        "id {} must be 1..={max_id} and not repeat another front end's",
                        o.id
                    ),
                ));
            }
            ids.push(o.id);
        }
        let t = &self.timeouts;
        for (key, v) in [
            ("timeouts.heartbeat_ms", t.heartbeat_ms),
            ("timeouts.ack_ms", t.ack_ms),
            ("timeouts.nack_ms", t.nack_ms),
            ("timeouts.retransmit_ms", t.retransmit_ms),
            ("timeouts.submit_retransmit_ms", t.submit_retransmit_ms),
            ("timeouts.reask_ms", t.reask_ms),
            ("timeouts.request_timeout_ms", t.request_timeout_ms),
            ("timeouts.linger_floor_ms", t.linger_floor_ms),
            ("timeouts.linger_cap_ms", t.linger_cap_ms),
            ("timeouts.liveness_ms", t.liveness_ms),
            ("timeouts.reassembly_ms", t.reassembly_ms),
            ("timeouts.sync_ms", t.sync_ms),
        ] {
            if v == 0 {
                return Err(bad(key, "must be greater than 0".into()));
            }
        }
        let g = &self.gateway;
        if !(g.public_url.starts_with("http://") || g.public_url.starts_with("https://")) {
            return Err(bad(
                "gateway.public_url",
                "must be an http:// or https:// URL".into(),
            ));
        }
        if g.tls.is_some() && g.public_url.starts_with("http://") {
            return Err(bad(
                "gateway.public_url",
                "must be an https:// URL: with [gateway.tls] the gateway speaks HTTPS only".into(),
            ));
        }
        if let Some(auth) = &g.auth {
            if auth.mode == AuthMode::Required && auth.users.is_none() {
                return Err(bad(
                    "gateway.auth.users",
                    "must name the user file when mode = \"required\" (create it with \
                     `tesserad user add --users FILE --name NAME --ids ID[,ID...]`)"
                        .into(),
                ));
            }
        }
        if g.body_timeout_ms == 0 {
            return Err(bad(
                "gateway.body_timeout_ms",
                "must be greater than 0".into(),
            ));
        }
        if g.max_connections_per_address == 0 {
            return Err(bad(
                "gateway.max_connections_per_address",
                "must be greater than 0".into(),
            ));
        }
        if g.max_body_bytes < 1024 {
            return Err(bad(
                "gateway.max_body_bytes",
                "must be at least 1024".into(),
            ));
        }
        if g.threads == 0 || g.threads > 256 {
            return Err(bad("gateway.threads", "must be 1..=256".into()));
        }
        if g.request_timeout_ms == 0 || g.max_in_flight == 0 {
            let key = if g.max_in_flight == 0 {
                "gateway.max_in_flight"
            } else {
                "gateway.request_timeout_ms"
            };
            return Err(bad(key, "must be greater than 0".into()));
        }
        let r = &self.recovery;
        if r.hang_threshold_ms == 0 {
            return Err(bad(
                "recovery.hang_threshold_ms",
                "must be greater than 0".into(),
            ));
        }
        if r.retry_ms == 0 {
            return Err(bad("recovery.retry_ms", "must be greater than 0".into()));
        }
        if self.exactly_once.max_entries > MAX_REMEMBERED_CALLS {
            return Err(bad(
                "exactly_once.max_entries",
                format!("must be at most {MAX_REMEMBERED_CALLS}"),
            ));
        }
        if r.checkpoint_interval > 0 && self.sequencer.retain_min as u64 <= r.checkpoint_interval {
            return Err(bad(
                "sequencer.retain_min",
                format!(
                    "must exceed recovery.checkpoint_interval ({}) so a replaced replica can replay from its checkpoint",
                    r.checkpoint_interval
                ),
            ));
        }
        if t.linger_floor_ms > t.linger_cap_ms {
            return Err(bad(
                "timeouts.linger_floor_ms",
                "must not exceed timeouts.linger_cap_ms".into(),
            ));
        }
        let f = &self.faults;
        for (key, p) in [
            ("faults.drop", f.drop),
            ("faults.duplicate", f.duplicate),
            ("faults.reorder", f.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(bad(key, format!("{p} is not a probability in 0..=1")));
            }
        }
        if f.drop >= 1.0 {
            return Err(bad("faults.drop", "1.0 would drop everything".into()));
        }
        Ok(())
    }

    /// Whether the gateway may be exposed as configured: the safe defaults of
    /// `docs/gateway.md`. Checked by `tesserad gateway` and `tesserad up` before anything
    /// listens, not by the other roles (which share the file but expose no gateway).
    pub fn check_gateway_exposure(&self, origin: &str) -> Result<(), ConfigError> {
        let g = &self.gateway;
        let bad = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            key: key.to_owned(),
            message,
        };
        let loopback = g.listen.ip().is_loopback();
        match &g.auth {
            None if !loopback => Err(bad(
                "gateway.auth",
                format!(
                    "the gateway would listen on {}, which is not a loopback address, and \
                     [gateway.auth] is not set: anyone who can reach it could act as any admin \
                     or participant, so tesserad refuses to start it. Add users with `tesserad \
                     user add --users /etc/tessera/users --name NAME --ids ID[,ID...]` (the \
                     password is read from stdin) and set [gateway.auth] mode = \"required\" \
                     and users = \"/etc/tessera/users\" (with [gateway.tls]); or, to run \
                     without authentication on purpose, set [gateway.auth] mode = \"off\"",
                    g.listen
                ),
            )),
            Some(AuthSection {
                mode: AuthMode::Required,
                ..
            }) if g.tls.is_none() && !loopback => Err(bad(
                "gateway.tls",
                format!(
                    "[gateway.auth] mode = \"required\" needs TLS when the gateway listens on \
                     {}, which is not a loopback address: every call carries a password, which \
                     must not cross a network in clear text. Add [gateway.tls] with cert and \
                     key (PEM; `tesserad dev-cert --out DIR` makes a trial pair), or listen on \
                     a loopback address",
                    g.listen
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The authentication mode in force: `[gateway.auth]`'s, or off without one (which
    /// [`Config::check_gateway_exposure`] allows on loopback only).
    pub fn gateway_auth_mode(&self) -> AuthMode {
        self.gateway.auth.as_ref().map_or(AuthMode::Off, |a| a.mode)
    }

    /// The largest datagram any node sends: `cluster.max_datagram_bytes` when the file gives
    /// it, else [`LOOPBACK_MAX_DATAGRAM_BYTES`] when every node is on this host
    /// ([`Config::is_loopback_only`]) and [`LAN_MAX_DATAGRAM_BYTES`] otherwise.
    pub fn max_datagram_bytes(&self) -> usize {
        self.cluster
            .max_datagram_bytes
            .unwrap_or(if self.is_loopback_only() {
                LOOPBACK_MAX_DATAGRAM_BYTES
            } else {
                LAN_MAX_DATAGRAM_BYTES
            })
    }

    /// Whether every datagram of the cluster stays on this host: the sequencer, every replica
    /// manager and the front end have loopback addresses and multicast, if used, goes out on
    /// a loopback interface. An unspecified address (`0.0.0.0`) counts as not loopback, since
    /// peers may then reach the node from elsewhere.
    pub fn is_loopback_only(&self) -> bool {
        self.sequencer_nodes()
            .iter()
            .all(|(_, a)| a.ip().is_loopback())
            && self.front_end.address.ip().is_loopback()
            && self
                .replica_manager
                .iter()
                .all(|r| r.address.ip().is_loopback())
            && (self.network.mode == MulticastMode::Unicast || self.network.interface.is_loopback())
    }

    /// The configuration as a TOML cluster file that [`Config::parse`] turns back into an
    /// equal value. Keys whose default depends on the rest (`cluster.max_datagram_bytes`) are
    /// written only when they were given.
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        Ok(toml::to_string(self)?)
    }

    pub fn cluster_id(&self) -> ClusterId {
        ClusterId::from_name(&self.cluster.name)
    }

    /// This configuration as front end `id` of the same cluster sees it: the same identities,
    /// with `id` as its own (`tesserad gateway --front-end-id`, several gateways sharing one
    /// cluster file).
    pub fn as_front_end(&self, id: u32) -> Result<Config, ConfigError> {
        if id == self.front_end.id {
            return Ok(self.clone());
        }
        let Some(other) = self.front_end.others.iter().find(|o| o.id == id) else {
            return Err(ConfigError::Invalid {
                origin: "--front-end-id".into(),
                key: "front_end.others".into(),
                message: format!(
                    "front end {id} is not in the cluster file: list it under [[front_end.others]] \
                     (every node must know its key), or use front end {}",
                    self.front_end.id
                ),
            });
        };
        let mut out = self.clone();
        out.front_end.others.retain(|o| o.id != id);
        out.front_end.others.push(FrontEndIdentity {
            id: self.front_end.id,
            public_key: self.front_end.public_key,
        });
        out.front_end.id = id;
        out.front_end.public_key = other.public_key;
        Ok(out)
    }

    /// For `tesserad up --gateways N`: lists `n - 1` further gateways' front ends among the
    /// others (the lowest ids not in use) and returns them, the k-th listening on
    /// `gateway.listen`'s port + k (and `metrics_listen`'s, if set). One gateway changes
    /// nothing.
    pub fn add_local_gateways(&mut self, n: usize) -> Result<Vec<LocalGateway>, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: "--gateways".into(),
            key: "gateway.listen".into(),
            message,
        };
        let mut taken = self.taken_addresses();
        let shifted = |a: SocketAddr, k: usize| -> Option<SocketAddr> {
            let port = usize::from(a.port()).checked_add(k)?;
            Some(SocketAddr::new(a.ip(), u16::try_from(port).ok()?))
        };
        let mut ids: Vec<u32> = std::iter::once(self.front_end.id)
            .chain(self.front_end.others.iter().map(|o| o.id))
            .collect();
        let mut added = Vec::new();
        for k in 1..n {
            let place = |a: SocketAddr, what: &str| {
                let at = shifted(a, k).ok_or_else(|| {
                    invalid(format!("gateway {} needs port {} + {k}", k + 1, a.port()))
                })?;
                if let Some((_, who)) = taken.iter().find(|(t, _)| t.port() == at.port()) {
                    return Err(invalid(format!(
                        "gateway {} would {what} on {at}, where {who} is; move gateway.listen \
                         (gateway k listens on its port + k - 1)",
                        k + 1
                    )));
                }
                Ok(at)
            };
            let listen = place(self.gateway.listen, "listen")?;
            let metrics_listen = self
                .gateway
                .metrics_listen
                .map(|m| place(m, "serve metrics"))
                .transpose()?;
            taken.push((listen, format!("gateway {}", k + 1)));
            taken.extend(metrics_listen.map(|m| (m, format!("gateway {}'s metrics", k + 1))));
            let id = (1..=RequestId::MAX_FRONT_END)
                .find(|i| !ids.contains(i))
                .ok_or_else(|| invalid("no front-end id left".into()))?;
            ids.push(id);
            self.front_end.others.push(FrontEndIdentity {
                id,
                public_key: None,
            });
            added.push(LocalGateway {
                front_end: id,
                listen,
                metrics_listen,
            });
        }
        Ok(added)
    }

    /// Every address a node of this file listens on, and whose it is.
    fn taken_addresses(&self) -> Vec<(SocketAddr, String)> {
        let mut taken: Vec<(SocketAddr, String)> = self
            .sequencer_nodes()
            .into_iter()
            .map(|(id, a)| (a, format!("sequencer {id}")))
            .collect();
        taken.push((self.gateway.listen, "the first gateway".into()));
        taken.extend(
            self.replica_manager
                .iter()
                .map(|r| (r.address, format!("replica manager {}", r.id))),
        );
        let metrics = self
            .sequencer
            .metrics_address
            .into_iter()
            .chain(
                self.sequencer
                    .others
                    .iter()
                    .filter_map(|o| o.metrics_address),
            )
            .chain(
                self.replica_manager
                    .iter()
                    .filter_map(|r| r.metrics_address),
            )
            .chain(self.gateway.metrics_listen);
        taken.extend(metrics.map(|a| (a, "a metrics listener".into())));
        taken
    }

    /// For `tesserad up --sequencers N`: lists `n - 1` further sequencer nodes (ids 2..=n),
    /// the k-th at the first sequencer's port - k (the managers are above it). One node
    /// changes nothing.
    pub fn add_local_sequencers(&mut self, n: usize) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: "--sequencers".into(),
            key: "sequencer.others".into(),
            message,
        };
        if n <= 1 {
            return Ok(());
        }
        if !self.sequencer.others.is_empty() {
            return Err(invalid(
                "the configuration already lists [[sequencer.others]]; --sequencers adds them \
                 to a file that has none"
                    .into(),
            ));
        }
        if n > usize::from(NodeId::MAX_SEQUENCERS) {
            return Err(invalid(format!(
                "at most {} sequencer nodes",
                NodeId::MAX_SEQUENCERS
            )));
        }
        let taken = self.taken_addresses();
        let base = self.sequencer.address;
        for k in 1..n {
            let port = usize::from(base.port())
                .checked_sub(k)
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    invalid(format!(
                        "sequencer {} needs port {} - {k}",
                        k + 1,
                        base.port()
                    ))
                })?;
            // k < n <= MAX_SEQUENCERS, and port < base.port().
            let at = SocketAddr::new(base.ip(), port as u16);
            if let Some((_, who)) = taken.iter().find(|(t, _)| t.port() == at.port()) {
                return Err(invalid(format!(
                    "sequencer {} would listen on {at}, where {who} is; move sequencer.address \
                     (sequencer k listens on its port - (k - 1))",
                    k + 1
                )));
            }
            self.sequencer.others.push(SequencerNode {
                id: k as u8 + 1,
                address: at,
                metrics_address: None,
                public_key: None,
            });
        }
        Ok(())
    }

    /// Where this host's key files are.
    pub fn key_dir(&self) -> PathBuf {
        self.cluster
            .key_dir
            .clone()
            .unwrap_or_else(|| self.cluster.data_dir.join("keys"))
    }

    /// Every node's public key: as the file lists it, else from `key_dir/NAME.pub`.
    pub fn roster(&self) -> Result<Roster, ConfigError> {
        let dir = self.key_dir();
        let mut roster = Roster::new();
        for node in crate::keys::identities(self) {
            let (key, listed) = match node {
                NodeId::Sequencer(1) => {
                    ("sequencer.public_key".to_owned(), self.sequencer.public_key)
                }
                NodeId::Sequencer(n) => (
                    format!("sequencer.others (id {n}).public_key"),
                    self.sequencer
                        .others
                        .iter()
                        .find(|o| o.id == n)
                        .and_then(|o| o.public_key),
                ),
                NodeId::ReplicaManager(r) => (
                    format!("replica_manager[{}].public_key", r.index()),
                    self.replica_manager
                        .iter()
                        .find(|m| m.id == r.get())
                        .and_then(|m| m.public_key),
                ),
                NodeId::FrontEnd(id) if id == self.front_end.id => {
                    ("front_end.public_key".to_owned(), self.front_end.public_key)
                }
                NodeId::FrontEnd(id) => (
                    format!("front_end.others (id {id}).public_key"),
                    self.front_end
                        .others
                        .iter()
                        .find(|o| o.id == id)
                        .and_then(|o| o.public_key),
                ),
                NodeId::Tool(_) => ("operator.public_key".to_owned(), self.operator.public_key),
            };
            let public = match listed {
                Some(k) => k,
                None => {
                    let path = crate::keys::public_path(&dir, node);
                    crate::keys::read_public(&path).map_err(|e| ConfigError::Invalid {
                        origin: "the cluster configuration".into(),
                        key,
                        message: format!(
                            "not given, and {e}; `tesserad keygen --config FILE --out DIR` \
                             makes every node's key and prints the public keys to list here"
                        ),
                    })?
                }
            };
            roster
                .insert(node, public)
                .map_err(|e| ConfigError::Invalid {
                    origin: "the cluster configuration".into(),
                    key: "public_key".into(),
                    message: e.to_string(),
                })?;
        }
        Ok(roster)
    }

    pub fn protocol_timeouts(&self) -> Timeouts {
        let t = &self.timeouts;
        let ms = Duration::from_millis;
        Timeouts {
            heartbeat: ms(t.heartbeat_ms),
            ack: ms(t.ack_ms),
            nack: ms(t.nack_ms),
            retransmit: ms(t.retransmit_ms),
            submit_retransmit: ms(t.submit_retransmit_ms),
            reask: ms(t.reask_ms),
            request_timeout: ms(t.request_timeout_ms),
            linger_floor: ms(t.linger_floor_ms),
            linger_cap: ms(t.linger_cap_ms),
            liveness: ms(t.liveness_ms),
        }
    }

    pub fn replica_manager(&self, id: u8) -> Option<&ReplicaManagerSection> {
        self.replica_manager.iter().find(|r| r.id == id)
    }

    /// Data directory of replica manager `id`.
    pub fn rm_dir(&self, id: u8) -> PathBuf {
        self.cluster.data_dir.join(format!("rm{id}"))
    }

    /// Data directory of sequencer node `id` (1: `sequencer`, as before there were several).
    pub fn sequencer_dir(&self, id: u8) -> PathBuf {
        match id {
            1 => self.cluster.data_dir.join("sequencer"),
            n => self.cluster.data_dir.join(format!("sequencer-{n}")),
        }
    }

    /// Every sequencer node's id and address, highest priority first.
    pub fn sequencer_nodes(&self) -> Vec<(u8, SocketAddr)> {
        std::iter::once((1, self.sequencer.address))
            .chain(self.sequencer.others.iter().map(|o| (o.id, o.address)))
            .collect()
    }

    /// Sequencer node `id`'s address and metrics listener.
    pub fn sequencer_node(&self, id: u8) -> Option<(SocketAddr, Option<SocketAddr>)> {
        match id {
            1 => Some((self.sequencer.address, self.sequencer.metrics_address)),
            n => self
                .sequencer
                .others
                .iter()
                .find(|o| o.id == n)
                .map(|o| (o.address, o.metrics_address)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.replica_manager.len(), 4);
        assert_eq!(c.network.ttl, 0);
        assert!(c.network.group.ip().is_multicast());
    }

    #[test]
    fn the_removed_shared_secret_is_named_with_what_replaced_it() {
        let text = "[cluster]\nname = \"old\"\nsecret = \"a-shared-secret\"\n";
        match Config::parse(text, "old.toml") {
            Err(ConfigError::Invalid { key, message, .. }) => {
                assert_eq!(key, "cluster.secret");
                assert!(message.contains("tesserad keygen"), "{message}");
                assert!(message.contains("public_key"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_public_key_is_named_and_a_listed_one_is_used() {
        let dir = std::env::temp_dir().join(format!("tessera-roster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = Config::default();
        cfg.cluster.key_dir = Some(dir.clone());
        match cfg.roster() {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "sequencer.public_key"),
            other => panic!("{other:?}"),
        }
        let keys = crate::keys::ensure_all(&cfg, &dir).unwrap();
        assert_eq!(cfg.roster().unwrap().len(), keys.len());
        // A key listed in the file wins over the directory's.
        let other = crate::keys::generate().unwrap().public();
        cfg.sequencer.public_key = Some(other);
        let text = cfg.to_toml_string().unwrap();
        let back = Config::parse(&text, "written").unwrap();
        assert_eq!(
            back.roster().unwrap().get(NodeId::Sequencer(1)),
            Some(&other)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn shipped_example_configs_are_valid() {
        let three = include_str!("../../../deploy/three-hosts.toml");
        let c = Config::parse(three, "deploy/three-hosts.toml").unwrap();
        assert_eq!(c.network.ttl, 1);
        assert_eq!(c.max_datagram_bytes(), 1400);
    }

    /// Every key of a TOML document as `section.key` (array entries as `section[i].key`).
    fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            toml::Value::Array(a) if a.iter().all(toml::Value::is_table) => {
                for (i, v) in a.iter().enumerate() {
                    flatten(&format!("{prefix}[{i}]"), v, out);
                }
            }
            v => out.push((prefix.to_owned(), v.clone())),
        }
    }

    #[test]
    fn local_toml_states_only_the_code_defaults() {
        let defaults: toml::Value =
            toml::from_str(&Config::default().to_toml_string().unwrap()).unwrap();
        let mut default_keys = Vec::new();
        flatten("", &defaults, &mut default_keys);
        let stated: toml::Value = toml::from_str(LOCAL_TOML).unwrap();
        let mut stated_keys = Vec::new();
        flatten("", &stated, &mut stated_keys);
        for (key, value) in &stated_keys {
            match default_keys.iter().find(|(k, _)| k == key) {
                Some((_, default)) => assert_eq!(
                    value, default,
                    "deploy/local.toml states {key} = {value}, but the code's default is \
                     {default}: change one of them so that they agree"
                ),
                None => panic!(
                    "deploy/local.toml states {key}, whose default depends on the rest of the \
                     file (or which has none): leave it to the code"
                ),
            }
        }
        // What the file leaves out comes from the same defaults, so the loaded whole agrees.
        assert_eq!(Config::load(None).unwrap(), Config::default());
    }

    #[test]
    fn a_gateway_can_be_any_listed_front_end() {
        let mut cfg = Config::default();
        cfg.front_end.others.push(FrontEndIdentity {
            id: 7,
            public_key: None,
        });
        let seven = cfg.as_front_end(7).unwrap();
        assert_eq!(seven.front_end.id, 7);
        assert_eq!(
            seven
                .front_end
                .others
                .iter()
                .map(|o| o.id)
                .collect::<Vec<_>>(),
            vec![1],
            "the same identities, another one its own"
        );
        assert_eq!(cfg.as_front_end(1).unwrap(), cfg);
        let err = cfg.as_front_end(9).unwrap_err().to_string();
        assert!(
            err.contains("front end 9 is not in the cluster file"),
            "{err}"
        );
    }

    #[test]
    fn up_lists_further_gateways_on_the_next_ports() {
        let mut cfg = Config::default();
        cfg.front_end.others.push(FrontEndIdentity {
            id: 2,
            public_key: None,
        });
        assert!(cfg.clone().add_local_gateways(1).unwrap().is_empty());
        let added = cfg.add_local_gateways(3).unwrap();
        let listen = cfg.gateway.listen;
        assert_eq!(
            added,
            vec![
                LocalGateway {
                    front_end: 3,
                    listen: SocketAddr::new(listen.ip(), listen.port() + 1),
                    metrics_listen: None,
                },
                LocalGateway {
                    front_end: 4,
                    listen: SocketAddr::new(listen.ip(), listen.port() + 2),
                    metrics_listen: None,
                },
            ]
        );
        assert_eq!(
            cfg.front_end
                .others
                .iter()
                .map(|o| o.id)
                .collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        // A further gateway may not land on another node's port.
        let mut crowded = Config::default();
        crowded.gateway.listen = SocketAddr::from(([127, 0, 0, 1], 7399));
        let err = crowded.add_local_gateways(2).unwrap_err().to_string();
        assert!(
            err.contains("gateway 2 would listen on 127.0.0.1:7400, where sequencer 1 is"),
            "{err}"
        );
    }

    #[test]
    fn up_lists_further_sequencers_below_the_first_and_the_file_round_trips() {
        let mut cfg = Config::default();
        cfg.add_local_sequencers(3).unwrap();
        assert_eq!(
            cfg.sequencer_nodes(),
            vec![
                (1, SocketAddr::from(([127, 0, 0, 1], 7400))),
                (2, SocketAddr::from(([127, 0, 0, 1], 7399))),
                (3, SocketAddr::from(([127, 0, 0, 1], 7398))),
            ]
        );
        assert_eq!(cfg.sequencer_dir(1), cfg.cluster.data_dir.join("sequencer"));
        assert_eq!(
            cfg.sequencer_dir(3),
            cfg.cluster.data_dir.join("sequencer-3")
        );
        let back = Config::parse(&cfg.to_toml_string().unwrap(), "t").unwrap();
        assert_eq!(back.sequencer_nodes(), cfg.sequencer_nodes());
        assert!(
            cfg.add_local_sequencers(2).is_err(),
            "a file that lists sequencer nodes is not added to"
        );
        // A further node may not land on another node's port.
        let mut crowded = Config::default();
        crowded.gateway.listen = SocketAddr::from(([127, 0, 0, 1], 7399));
        let err = crowded.add_local_sequencers(2).unwrap_err().to_string();
        assert!(err.contains("where the first gateway is"), "{err}");
    }

    #[test]
    fn sequencer_node_ids_are_2_to_7_and_unique() {
        let node = |id: u8, port: u16| {
            format!("[[sequencer.others]]\nid = {id}\naddress = \"127.0.0.1:{port}\"\n")
        };
        for bad in [node(1, 7000), node(8, 7000), node(2, 7000) + &node(2, 7001)] {
            let err = Config::parse(&bad, "t").unwrap_err().to_string();
            assert!(err.contains("sequencer.others["), "{bad}: {err}");
        }
        let good = Config::parse(&(node(3, 7000) + &node(2, 7001)), "t").unwrap();
        assert_eq!(
            good.sequencer_nodes()
                .iter()
                .map(|n| n.0)
                .collect::<Vec<_>>(),
            vec![1, 3, 2],
            "priority is the order listed"
        );
    }

    #[test]
    fn a_gateway_section_derives_the_default_public_url() {
        let c = Config::parse("[gateway]\nthreads = 1", "t").unwrap();
        assert_eq!(c.gateway, Config::default().gateway);
    }

    #[test]
    fn the_datagram_size_follows_the_addresses_unless_given() {
        let local = Config::parse("", "t").unwrap();
        assert!(local.is_loopback_only());
        assert_eq!(local.max_datagram_bytes(), LOOPBACK_MAX_DATAGRAM_BYTES);
        let given = Config::parse("[cluster]\nmax_datagram_bytes = 9000", "t").unwrap();
        assert_eq!(given.max_datagram_bytes(), 9000);
        // One node elsewhere is enough for datagrams to cross a real network.
        let remote_rm = LOCAL_TOML.replace("127.0.0.1:7403", "10.0.0.3:7403");
        let c = Config::parse(&remote_rm, "t").unwrap();
        assert!(!c.is_loopback_only());
        assert_eq!(c.max_datagram_bytes(), LAN_MAX_DATAGRAM_BYTES);
        let lan_multicast =
            LOCAL_TOML.replace("interface = \"127.0.0.1\"", "interface = \"10.0.0.1\"");
        let c = Config::parse(&lan_multicast, "t").unwrap();
        assert_eq!(c.max_datagram_bytes(), LAN_MAX_DATAGRAM_BYTES);
        let unicast = lan_multicast.replace("mode = \"multicast\"", "mode = \"unicast\"");
        let c = Config::parse(&unicast, "t").unwrap();
        assert_eq!(c.max_datagram_bytes(), LOOPBACK_MAX_DATAGRAM_BYTES);
        let any = LOCAL_TOML.replace("address = \"127.0.0.1:0\"", "address = \"0.0.0.0:0\"");
        let c = Config::parse(&any, "t").unwrap();
        assert_eq!(c.max_datagram_bytes(), LAN_MAX_DATAGRAM_BYTES);
        assert!(err("[cluster]\nmax_datagram_bytes = 100").contains("cluster.max_datagram_bytes"));
    }

    #[test]
    fn a_config_written_as_toml_loads_back_equal() {
        let three = Config::parse(
            include_str!("../../../deploy/three-hosts.toml"),
            "deploy/three-hosts.toml",
        )
        .unwrap();
        let mut odd = Config::load(None).unwrap();
        odd.network.mode = MulticastMode::Unicast;
        odd.cluster.max_datagram_bytes = Some(8192);
        odd.gateway.auth = Some(AuthSection {
            mode: AuthMode::Off,
            users: None,
        });
        odd.recovery.checkpoint_interval = 0;
        odd.faults = FaultsSection {
            drop: 0.2,
            duplicate: 0.05,
            reorder: 0.05,
            max_delay_ms: 3,
            seed: 42,
        };
        for c in [Config::default(), Config::load(None).unwrap(), three, odd] {
            let text = c.to_toml_string().unwrap();
            assert_eq!(Config::parse(&text, "written").unwrap(), c, "{text}");
        }
        assert!(!Config::default()
            .to_toml_string()
            .unwrap()
            .contains("max_datagram_bytes"));
    }

    #[test]
    fn empty_file_means_all_defaults() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.replica_manager[3].implementation, Implementation::Kv);
        assert_eq!(c.cluster.max_message_bytes, 4 << 20);
    }

    fn err(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn gateway_exposure_defaults_are_safe() {
        let exposure = |text: &str| {
            Config::parse(text, "t.toml")
                .unwrap()
                .check_gateway_exposure("t.toml")
                .map_err(|e| e.to_string())
        };
        // Loopback without [gateway.auth]: off, as for `tesserad up`.
        let local = Config::parse("", "t").unwrap();
        assert!(local.check_gateway_exposure("t").is_ok());
        assert_eq!(local.gateway_auth_mode(), AuthMode::Off);
        let open = exposure("[gateway]\nlisten = \"0.0.0.0:8080\"").unwrap_err();
        assert!(
            open.contains("`gateway.auth`") && open.contains("tesserad user add"),
            "{open}"
        );
        assert!(
            exposure("[gateway]\nlisten = \"0.0.0.0:8080\"\n[gateway.auth]\nmode = \"off\"")
                .is_ok()
        );
        let clear = exposure(
            "[gateway]\nlisten = \"10.0.0.1:8080\"\n[gateway.auth]\nmode = \"required\"\nusers = \"u\"",
        )
        .unwrap_err();
        assert!(
            clear.contains("`gateway.tls`") && clear.contains("clear text"),
            "{clear}"
        );
        assert!(exposure(
            "[gateway]\nlisten = \"127.0.0.1:8080\"\n[gateway.auth]\nmode = \"required\"\nusers = \"u\""
        )
        .is_ok());
    }

    #[test]
    fn public_url_follows_listen_and_tls_unless_given() {
        let c = Config::parse("[gateway]\nlisten = \"127.0.0.1:9443\"\n[gateway.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"", "t").unwrap();
        assert_eq!(
            c.gateway.public_url,
            "https://127.0.0.1:9443/ws/reservation"
        );
        let c = Config::parse("[gateway]\nlisten = \"127.0.0.1:9080\"", "t").unwrap();
        assert_eq!(c.gateway.public_url, "http://127.0.0.1:9080/ws/reservation");
        let e = err(
            "[gateway]\npublic_url = \"http://x/ws\"\n[gateway.tls]\ncert = \"c\"\nkey = \"k\"",
        );
        assert!(
            e.contains("gateway.public_url") && e.contains("https"),
            "{e}"
        );
        assert!(err("[gateway.auth]\nmode = \"required\"").contains("gateway.auth.users"));
        assert!(err("[gateway.auth]\nmode = \"sometimes\"").contains("sometimes"));
        assert!(err("[gateway.tls]\ncert = \"c\"").contains("key"));
    }

    #[test]
    fn errors_name_the_key() {
        assert!(err("[cluster]\nnmae = \"x\"").contains("nmae"));
        assert!(err("[network]\ngroup = \"10.0.0.1:7500\"").contains("network.group"));
        assert!(err("[network]\nttl = 300").contains("network.ttl"));
        assert!(err("[timeouts]\nack_ms = 0").contains("timeouts.ack_ms"));
        assert!(err("[faults]\ndrop = 1.5").contains("faults.drop"));
        assert!(err("[sequencer]\naddress = \"nonsense\"").contains("address"));
        let two =
            "[[replica_manager]]\nid = 1\nimplementation = \"memory\"\naddress = \"127.0.0.1:1\"\n";
        assert!(err(two).contains("replica_manager"));
        let bad_impl = err(&two.replace("memory", "mongo"));
        assert!(
            bad_impl.contains("mongo") && bad_impl.contains("implementation"),
            "{bad_impl}"
        );
    }
}
