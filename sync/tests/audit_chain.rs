//! The audit chain: honest chains verify, and any tampering is named at the record where it
//! happened.

use hazardloop_sync::audit::{
    canonical_bytes, hash, verify_chain, AuditRecord, BreakReason, GENESIS_HASH,
};
use serde_json::json;
use uuid::Uuid;

fn chain(len: i64) -> Vec<(AuditRecord, String)> {
    let mut out: Vec<(AuditRecord, String)> = Vec::new();
    for seq in 1..=len {
        let prev_hash = out
            .last()
            .map_or(GENESIS_HASH.to_owned(), |(_, h)| h.clone());
        let record = AuditRecord {
            seq,
            org_id: Uuid::from_u128(1),
            hazard_id: Some(Uuid::from_u128(2)),
            entity_type: "hazard".into(),
            entity_id: Uuid::from_u128(2),
            actor_id: Some(Uuid::from_u128(3)),
            device_id: Some(Uuid::from_u128(4)),
            device_time_ms: Some(1_780_000_000_000 + seq),
            server_time_ms: 1_780_000_000_500 + seq,
            event: "hazard.assigned".into(),
            from_state: Some("reported".into()),
            to_state: Some("assigned".into()),
            payload: json!({"measures": "fence", "photos": ["a"], "n": seq}),
            prev_hash,
        };
        let h = hash(&record);
        out.push((record, h));
    }
    out
}

/// A named way of changing a stored record.
type Tampering = (&'static str, fn(&mut AuditRecord));

/// Every field, changed in some way.
fn tamperings() -> Vec<Tampering> {
    vec![
        ("org_id", |r| r.org_id = Uuid::from_u128(9)),
        ("hazard_id", |r| r.hazard_id = None),
        ("entity_type", |r| r.entity_type = "inspection".into()),
        ("entity_id", |r| r.entity_id = Uuid::from_u128(9)),
        ("actor_id", |r| r.actor_id = Some(Uuid::from_u128(9))),
        ("device_id", |r| r.device_id = None),
        ("device_time_ms", |r| r.device_time_ms = Some(0)),
        ("server_time_ms", |r| r.server_time_ms += 1),
        ("event", |r| r.event = "hazard.verified".into()),
        ("from_state", |r| r.from_state = None),
        ("to_state", |r| r.to_state = Some("closed".into())),
        ("payload", |r| r.payload["measures"] = json!("nothing")),
        ("payload key", |r| r.payload["extra"] = json!(null)),
    ]
}

#[test]
fn an_honest_chain_verifies() {
    assert_eq!(verify_chain(chain(6).into_iter()), Ok(6));
    assert_eq!(verify_chain(std::iter::empty()), Ok(0));
    assert_eq!(GENESIS_HASH.len(), 64);
}

#[test]
fn tampering_any_field_is_named_at_its_seq() {
    for at in 1..=5usize {
        for (field, tamper) in tamperings() {
            let mut records = chain(5);
            tamper(&mut records[at - 1].0);
            let broken = verify_chain(records.into_iter()).unwrap_err();
            assert_eq!(broken.seq, at as i64, "{field} at {at}");
            assert!(
                matches!(broken.reason, BreakReason::HashMismatch { .. }),
                "{field}"
            );
        }
    }
}

#[test]
fn tampering_seq_or_prev_hash_is_named_too() {
    let mut records = chain(5);
    records[2].0.seq = 30;
    let broken = verify_chain(records.into_iter()).unwrap_err();
    assert_eq!(broken.seq, 30);
    assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));

    let mut records = chain(5);
    records[2].0.prev_hash = "1".repeat(64);
    let broken = verify_chain(records.into_iter()).unwrap_err();
    assert_eq!(broken.seq, 3);
    assert!(matches!(
        broken.reason,
        BreakReason::PrevHashMismatch { .. }
    ));
}

#[test]
fn rewriting_a_record_with_a_fresh_hash_breaks_the_next_link() {
    let mut records = chain(5);
    records[2].0.payload = json!({"forged": true});
    records[2].1 = hash(&records[2].0);
    let broken = verify_chain(records.into_iter()).unwrap_err();
    assert_eq!(broken.seq, 4);
    assert!(matches!(
        broken.reason,
        BreakReason::PrevHashMismatch { .. }
    ));
}

#[test]
fn removed_reordered_and_misrooted_records_are_named() {
    let mut records = chain(5);
    records.remove(1);
    assert_eq!(verify_chain(records.into_iter()).unwrap_err().seq, 3);

    // Swapped: seq 4 now follows seq 2 and does not point at it.
    let mut records = chain(5);
    records.swap(2, 3);
    let broken = verify_chain(records.into_iter()).unwrap_err();
    assert_eq!(broken.seq, 4);
    assert!(matches!(
        broken.reason,
        BreakReason::PrevHashMismatch { .. }
    ));

    let mut records = chain(5);
    records[2].0.seq = 2;
    records[2].1 = hash(&records[2].0);
    let broken = verify_chain(records.into_iter()).unwrap_err();
    assert_eq!(
        (broken.seq, broken.reason),
        (2, BreakReason::SeqNotIncreasing { previous: 2 })
    );

    let mut records = chain(3);
    records[0].0.prev_hash = "f".repeat(64);
    records[0].1 = hash(&records[0].0);
    assert_eq!(verify_chain(records.into_iter()).unwrap_err().seq, 1);

    let mut records = chain(3);
    records[1].1 = "0".repeat(64);
    let broken = verify_chain(records.into_iter()).unwrap_err();
    assert_eq!(broken.seq, 2);
    assert!(broken
        .to_string()
        .starts_with("audit chain broken at seq 2: content does not match"));
}

#[test]
fn canonical_bytes_are_sorted_compact_and_stable() {
    let (record, _) = chain(1).remove(0);
    let text = String::from_utf8(canonical_bytes(&record)).unwrap();
    assert!(text.starts_with(r#"{"actor_id":"00000000-0000-0000-0000-000000000003","device_id":"#));
    assert!(text.contains(r#""payload":{"measures":"fence","n":1,"photos":["a"]}"#));
    assert!(!text.contains(' '));
    // Survives a trip through stored JSON text with keys in another order.
    let stored = serde_json::to_string(&serde_json::to_value(&record).unwrap()).unwrap();
    let back: AuditRecord = serde_json::from_str(&stored).unwrap();
    assert_eq!(hash(&back), hash(&record));
    // Pinned: changing the canonical form would orphan every stored chain. The same value
    // comes from Python's json.dumps(record, sort_keys=True, separators=(",", ":"),
    // ensure_ascii=False), so the chain can be checked outside this code base.
    assert_eq!(
        hash(&record),
        "8e43d4890917537fd9995b9cda79c6d2cf10a7d73bb707eaac5eb0738af61fe8"
    );
}
