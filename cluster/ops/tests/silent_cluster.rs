//! What a tool gets from a cluster that does not answer: typed outcomes a caller can match
//! on, with the messages `tesserad` and `tessera` have always printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::time::Duration;

use tessera_ops::chaos::{self, ChaosAction, ChaosError};
use tessera_ops::status::{self, ReplicaState};
use tessera_ops::Config;

/// A cluster file whose nodes are sockets of this test, which never answer; its keys (the
/// operator's is what the tools sign with) in a directory of its own.
/// The directory goes when the returned guard is dropped.
fn silent_cluster(sockets: &[UdpSocket]) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let addr = |i: usize| sockets[i].local_addr().expect("bound");
    let mut text = format!(
        "[cluster]\nname = \"ops-silent-{pid}\"\ndata_dir = \"{}\"\n\
         [network]\nmode = \"unicast\"\n[sequencer]\naddress = \"{}\"\n",
        data.display(),
        addr(0),
        pid = std::process::id()
    );
    for (i, implementation) in ["memory", "sqlite", "eventlog", "kv"].iter().enumerate() {
        text.push_str(&format!(
            "[[replica_manager]]\nid = {}\nimplementation = \"{implementation}\"\n\
             address = \"{}\"\n",
            i + 1,
            addr(i + 1)
        ));
    }
    let cfg = Config::parse(&text, "silent").expect("valid");
    tessera_ops::keys::ensure_all(&cfg, &cfg.key_dir()).expect("keys");
    (cfg, dir)
}

fn sockets() -> Vec<UdpSocket> {
    (0..5)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect()
}

#[tokio::test]
async fn chaos_says_which_way_it_failed() {
    let sockets = sockets();
    let (cfg, _dir) = silent_cluster(&sockets);
    let wait = Duration::from_millis(300);
    match chaos::send(&cfg, 9, ChaosAction::Crash, wait).await {
        Err(e @ ChaosError::NoSuchReplica { replica: 9, .. }) => assert_eq!(
            e.to_string(),
            "no replica 9 in this cluster (expected 1..=4)"
        ),
        other => panic!("{other:?}"),
    }
    match chaos::send(&cfg, 2, ChaosAction::Crash, wait).await {
        Err(e @ ChaosError::NoAnswer { replica: 2, .. }) => assert_eq!(
            e.to_string(),
            "replica manager 2 did not answer within 300ms"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn status_of_a_silent_cluster_is_rows_of_down_replicas() {
    let sockets = sockets();
    let (cfg, _dir) = silent_cluster(&sockets);
    let s = status::query(&cfg, Duration::from_millis(300))
        .await
        .expect("a silent cluster is an outcome, not an error");
    assert!(s.nobody_answered());
    assert_eq!(s.replicas.len(), 4);
    assert!(s
        .replicas
        .iter()
        .all(|r| r.state == ReplicaState::Down && r.pid.is_none()));
    let json = serde_json::to_value(&s).expect("serializes");
    assert_eq!(json["next_seq"], serde_json::Value::Null);
    assert_eq!(json["replicas"][1]["state"], "down");
    assert_eq!(json["replicas"][1]["implementation"], "sqlite");
}

/// Scripts read these keys (`docs/recovery.md`); neither more nor fewer may appear.
#[tokio::test]
async fn the_json_keys_are_the_documented_ones() {
    let sockets = sockets();
    let (cfg, _dir) = silent_cluster(&sockets);
    let s = status::query(&cfg, Duration::from_millis(50))
        .await
        .expect("queried");
    let json = serde_json::to_value(&s).expect("serializes");
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut top = keys(&json);
    top.sort();
    assert_eq!(top, ["next_seq", "replicas", "sequencers"]);
    let mut node = keys(&json["sequencers"][0]);
    node.sort();
    assert_eq!(
        node,
        [
            "disk_available_bytes",
            "disk_size_bytes",
            "id",
            "next_seq",
            "state",
            "view"
        ]
    );
    assert_eq!(json["sequencers"][0]["state"], "down");
    let mut row = keys(&json["replicas"][0]);
    row.sort();
    assert_eq!(
        row,
        [
            "consecutive_faults",
            "digest",
            "disk_available_bytes",
            "disk_size_bytes",
            "id",
            "implementation",
            "last_seq",
            "last_wrong_unix_ms",
            "pid",
            "replacements",
            "state"
        ]
    );
}
