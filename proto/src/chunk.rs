//! Splits large assignments into messages that stay well under the gateway's 4 MiB message
//! limit (`crate::bounds::MAX_GATEWAY_MESSAGE_BYTES`): the first part keeps the snapshot
//! flag, the rest are deltas with their own versions, so an agent applying them in order ends
//! with exactly the whole assignment. The coordinator sends assignments this way, and the
//! agent's gateway benchmark sends its monitors the same way.

use crate::v1::Assignment;
use prost::Message;

/// Upper bound for the encoded size of one assignment message.
pub const MAX_ASSIGNMENT_BYTES: usize = 1024 * 1024;

/// Splits `a` into parts of at most `max_bytes` of monitors and removals (a single larger
/// monitor travels alone). `next_version` numbers every part after the first; every part keeps
/// the leader epoch.
pub fn split(
    a: Assignment,
    max_bytes: usize,
    mut next_version: impl FnMut() -> u64,
) -> Vec<Assignment> {
    if a.encoded_len() <= max_bytes {
        return vec![a];
    }
    let mut parts = Vec::new();
    let epoch = a.leader_epoch;
    let mut current = Assignment {
        version: a.version,
        snapshot: a.snapshot,
        leader_epoch: epoch,
        ..Default::default()
    };
    let mut size = 0;
    let mut start_part =
        |current: &mut Assignment, size: &mut usize, parts: &mut Vec<Assignment>| {
            let next = Assignment {
                version: next_version(),
                leader_epoch: epoch,
                ..Default::default()
            };
            parts.push(std::mem::replace(current, next));
            *size = 0;
        };
    for m in a.upserts {
        let len = m.encoded_len() + 8;
        if size > 0 && size + len > max_bytes {
            start_part(&mut current, &mut size, &mut parts);
        }
        size += len;
        current.upserts.push(m);
    }
    for id in a.removals {
        let len = id.len() + 8;
        if size > 0 && size + len > max_bytes {
            start_part(&mut current, &mut size, &mut parts);
        }
        size += len;
        current.removals.push(id);
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Monitor;

    fn monitors(n: usize) -> Vec<Monitor> {
        (0..n)
            .map(|i| Monitor {
                id: format!("mon_{i:06}"),
                name: "x".repeat(100),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn small_assignments_stay_whole() {
        let a = Assignment {
            version: 4,
            snapshot: true,
            upserts: monitors(3),
            removals: vec![],
            leader_epoch: 2,
        };
        let parts = split(a.clone(), MAX_ASSIGNMENT_BYTES, || {
            unreachable!("no extra parts")
        });
        assert_eq!(parts, vec![a]);
    }

    #[test]
    fn large_snapshots_become_a_snapshot_and_deltas() {
        let upserts = monitors(1_000);
        let removals: Vec<String> = (0..500).map(|i| format!("gone_{i}")).collect();
        let a = Assignment {
            version: 10,
            snapshot: true,
            upserts: upserts.clone(),
            removals: removals.clone(),
            leader_epoch: 3,
        };
        let mut v = 10;
        let parts = split(a, 16 * 1024, || {
            v += 1;
            v
        });
        assert!(parts.len() > 5, "{} parts", parts.len());
        assert!(parts[0].snapshot && parts[1..].iter().all(|p| !p.snapshot));
        let versions: Vec<u64> = parts.iter().map(|p| p.version).collect();
        assert_eq!(versions, (10..10 + parts.len() as u64).collect::<Vec<_>>());
        assert!(parts.iter().all(|p| p.encoded_len() <= 16 * 1024 + 256));
        assert!(
            parts.iter().all(|p| p.leader_epoch == 3),
            "every part keeps the term"
        );
        let all_up: Vec<Monitor> = parts.iter().flat_map(|p| p.upserts.clone()).collect();
        let all_rm: Vec<String> = parts.iter().flat_map(|p| p.removals.clone()).collect();
        assert_eq!(all_up, upserts);
        assert_eq!(all_rm, removals);
    }
}
