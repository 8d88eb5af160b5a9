//! Who may speak on a cluster's wire: each node's static X25519 key pair, the roster of every
//! node's public key (from the shared configuration), and the pairwise MAC keys derived from
//! them once at start-up.
//!
//! A node holds only its own secret. The MAC key it shares with a peer comes from their
//! Diffie-Hellman shared secret, so a third node cannot compute it: that is what stops one
//! compromised node from speaking for another. Randomness for new keys comes from the caller
//! (this crate has none).

use std::collections::BTreeMap;
use std::fmt;

use x25519_dalek::{PublicKey as DalekPublic, StaticSecret};

use super::frame::ClusterId;
use super::message::NodeId;

/// Length of a secret or public key, in bytes.
pub const KEY_LEN: usize = 32;

/// Why a key or roster could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key is 32 bytes written as 64 hex digits; got {0:?}")]
    BadHex(String),
    #[error("{0} has no public key in the configuration")]
    NotInRoster(NodeId),
    #[error("the secret key given for {0} does not match its public key in the configuration")]
    Mismatch(NodeId),
    #[error("the public key of {0} is a low-order point (no shared secret with it is safe)")]
    WeakPublicKey(NodeId),
    #[error("the roster holds more than {max} identities")]
    RosterTooLarge { max: usize },
}

/// A node's public identity, as listed in the cluster configuration.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PublicKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        from_hex(s).map(PublicKey)
    }
}

/// A node's secret key. Its `Debug` shows only the public half, so a log line cannot leak it.
#[derive(Clone)]
pub struct SecretKey(StaticSecret);

impl SecretKey {
    /// The key whose secret scalar is `bytes` (clamped by X25519); the caller supplies 32
    /// bytes from the operating system's random source for a new key.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SecretKey(StaticSecret::from(bytes))
    }

    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(DalekPublic::from(&self.0).to_bytes())
    }

    /// The secret as it is stored in a key file: hex, one line.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0.to_bytes())
    }

    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        from_hex(s).map(Self::from_bytes)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let s = s.trim();
    let bad = || KeyError::BadHex(s.chars().take(80).collect());
    if s.len() != KEY_LEN * 2 || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0; KEY_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// The identity a node's keys belong to. Every operator tool (`tesserad status`, `chaos`, the
/// CLI) holds the one operator key, but runs under its own [`NodeId::Tool`] number so that
/// two tools at once keep separate replay state.
pub fn identity_of(node: NodeId) -> NodeId {
    match node {
        NodeId::Tool(_) => NodeId::OPERATOR,
        other => other,
    }
}

/// Most identities a roster may hold: each has one bit in a datagram's audience mask.
pub const MAX_IDENTITIES: usize = 32;

/// Every identity of a cluster and its public key, in one order every node agrees on (the
/// order of [`NodeId`]): a node's place in it is its bit in a datagram's audience mask.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roster {
    keys: BTreeMap<NodeId, PublicKey>,
}

impl Roster {
    pub fn new() -> Self {
        Roster::default()
    }

    /// Adds (or replaces) `node`'s public key; a `Tool` stands for the operator identity.
    pub fn insert(&mut self, node: NodeId, key: PublicKey) -> Result<(), KeyError> {
        let node = identity_of(node);
        if !self.keys.contains_key(&node) && self.keys.len() == MAX_IDENTITIES {
            return Err(KeyError::RosterTooLarge {
                max: MAX_IDENTITIES,
            });
        }
        self.keys.insert(node, key);
        Ok(())
    }

    pub fn get(&self, node: NodeId) -> Option<&PublicKey> {
        self.keys.get(&identity_of(node))
    }

    /// `node`'s bit number in an audience mask.
    pub fn index(&self, node: NodeId) -> Option<usize> {
        let node = identity_of(node);
        self.keys.keys().position(|n| *n == node)
    }

    pub fn identities(&self) -> impl Iterator<Item = (NodeId, &PublicKey)> {
        self.keys.iter().map(|(n, k)| (*n, k))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The MAC key `me` shares with `peer`. Both ends derive the same key: the node ids and public
/// keys enter in a fixed order, and the cluster id keeps two clusters with the same keys apart.
/// Binding both public keys follows Noise and WireGuard, so the key is tied to these exact
/// identities and not only to the shared point.
pub(crate) fn pairwise_key(
    cluster: ClusterId,
    me: (NodeId, &SecretKey),
    peer: (NodeId, &PublicKey),
) -> Result<[u8; KEY_LEN], KeyError> {
    let shared = me.1 .0.diffie_hellman(&DalekPublic::from(peer.1 .0));
    if !shared.was_contributory() {
        return Err(KeyError::WeakPublicKey(peer.0));
    }
    let mine = (identity_of(me.0).to_wire(), me.1.public());
    let theirs = (identity_of(peer.0).to_wire(), *peer.1);
    let (lo, hi) = if mine.0 <= theirs.0 {
        (mine, theirs)
    } else {
        (theirs, mine)
    };
    let mut material = Vec::with_capacity(8 + 2 * (4 + KEY_LEN) + KEY_LEN);
    material.extend_from_slice(&cluster.0.to_le_bytes());
    for (id, key) in [lo, hi] {
        material.extend_from_slice(&id.to_le_bytes());
        material.extend_from_slice(key.as_bytes());
    }
    material.extend_from_slice(shared.as_bytes());
    Ok(blake3::derive_key(
        "tessera pairwise datagram key v1",
        &material,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplicaId;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_bytes([seed; KEY_LEN])
    }

    #[test]
    fn both_ends_derive_the_same_pairwise_key_and_a_third_cannot() {
        let c = ClusterId(7);
        let (a, b, m) = (key(1), key(2), key(3));
        let (na, nb) = (NodeId::Sequencer(1), NodeId::FrontEnd(9));
        let nm = NodeId::ReplicaManager(ReplicaId::ALL[2]);
        let ab = pairwise_key(c, (na, &a), (nb, &b.public())).unwrap();
        let ba = pairwise_key(c, (nb, &b), (na, &a.public())).unwrap();
        assert_eq!(ab, ba);
        // What the third node can derive with either of them differs from their shared key,
        // also when it claims to be one of them.
        for claimed in [na, nb, nm] {
            assert_ne!(
                pairwise_key(c, (claimed, &m), (nb, &b.public())).unwrap(),
                ab
            );
            assert_ne!(
                pairwise_key(c, (claimed, &m), (na, &a.public())).unwrap(),
                ab
            );
        }
        assert_ne!(
            pairwise_key(ClusterId(8), (na, &a), (nb, &b.public())).unwrap(),
            ab
        );
    }

    #[test]
    fn low_order_public_keys_are_refused() {
        let zero = PublicKey::from_bytes([0; KEY_LEN]);
        assert_eq!(
            pairwise_key(
                ClusterId(1),
                (NodeId::Sequencer(1), &key(1)),
                (NodeId::OPERATOR, &zero)
            ),
            Err(KeyError::WeakPublicKey(NodeId::OPERATOR))
        );
    }

    #[test]
    fn keys_round_trip_through_hex_and_bad_hex_is_named() {
        let k = key(42);
        assert_eq!(
            SecretKey::from_hex(&k.to_hex()).unwrap().to_bytes(),
            k.to_bytes()
        );
        let p = k.public();
        assert_eq!(p.to_string().parse::<PublicKey>(), Ok(p));
        assert!(matches!(
            "zz".parse::<PublicKey>(),
            Err(KeyError::BadHex(_))
        ));
        assert!(matches!(
            "g".repeat(64).parse::<PublicKey>(),
            Err(KeyError::BadHex(_))
        ));
        assert!(!format!("{k:?}").contains(&k.to_hex()));
    }

    #[test]
    fn every_tool_is_the_operator_in_the_roster() {
        let mut r = Roster::new();
        r.insert(NodeId::Sequencer(1), key(1).public()).unwrap();
        r.insert(NodeId::Tool(55), key(2).public()).unwrap();
        assert_eq!(r.get(NodeId::Tool(1234)), Some(&key(2).public()));
        assert_eq!(r.index(NodeId::Tool(9)), r.index(NodeId::OPERATOR));
        assert_eq!(r.index(NodeId::FrontEnd(1)), None);
        assert_eq!(r.len(), 2);
    }
}
