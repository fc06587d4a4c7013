//! Splits large assignments into messages that stay well under the gateway's 4 MiB message
//! limit (`crate::bounds::MAX_GATEWAY_MESSAGE_BYTES`): the first part keeps the snapshot
//! flag, the rest are deltas with their own versions, so an agent applying them in order ends
//! with exactly the whole assignment. The coordinator sends assignments this way, and the
//! agent's gateway benchmark sends its monitors the same way.

use crate::Monitor;
use crate::v1::Assignment;
use prost::Message;

/// Upper bound for the encoded size of one assignment message.
pub const MAX_ASSIGNMENT_BYTES: usize = 1024 * 1024;

/// Splits `a` into parts of at most `max_bytes` of monitors and removals (a single larger
/// monitor travels alone). `next_version` numbers every part after the first; every part keeps
/// the leader epoch.
pub fn split(
    mut a: Assignment,
    max_bytes: usize,
    next_version: impl FnMut() -> u64,
) -> Vec<Assignment> {
    let upserts = std::mem::take(&mut a.upserts);
    let removals = std::mem::take(&mut a.removals);
    Parts::new(a, upserts, removals, max_bytes, next_version).collect()
}

/// The parts of an assignment as [`split`] makes them, built one at a time from its monitors
/// and removals as they are taken: a large snapshot is never copied whole.
pub struct Parts<U: Iterator, R: Iterator, V> {
    /// The first part's header, until it is taken.
    head: Option<Assignment>,
    epoch: u64,
    upserts: std::iter::Peekable<U>,
    removals: std::iter::Peekable<R>,
    max_bytes: usize,
    next_version: V,
}

impl<U, R, V> Parts<U, R, V>
where
    U: Iterator<Item = Monitor>,
    R: Iterator<Item = String>,
    V: FnMut() -> u64,
{
    /// Parts of the assignment `head` (its version, snapshot flag and epoch; its lists are
    /// ignored) with `upserts` and `removals`.
    pub fn new(
        head: Assignment,
        upserts: impl IntoIterator<IntoIter = U>,
        removals: impl IntoIterator<IntoIter = R>,
        max_bytes: usize,
        next_version: V,
    ) -> Self {
        Parts {
            epoch: head.leader_epoch,
            head: Some(Assignment {
                upserts: Vec::new(),
                removals: Vec::new(),
                ..head
            }),
            upserts: upserts.into_iter().peekable(),
            removals: removals.into_iter().peekable(),
            max_bytes,
            next_version,
        }
    }
}

impl<U, R, V> Iterator for Parts<U, R, V>
where
    U: Iterator<Item = Monitor>,
    R: Iterator<Item = String>,
    V: FnMut() -> u64,
{
    type Item = Assignment;

    fn next(&mut self) -> Option<Assignment> {
        let mut part = match self.head.take() {
            Some(head) => head,
            // A part after the first only when something is left for it.
            None if self.upserts.peek().is_none() && self.removals.peek().is_none() => {
                return None;
            }
            None => Assignment {
                version: (self.next_version)(),
                leader_epoch: self.epoch,
                ..Default::default()
            },
        };
        let max = self.max_bytes;
        let mut size = 0;
        // Whether an item of `len` bytes fits; a part takes at least one.
        let mut fits = |len: usize| {
            let fits = size == 0 || size + len <= max;
            if fits {
                size += len;
            }
            fits
        };
        while let Some(m) = self.upserts.next_if(|m| fits(m.encoded_len() + 8)) {
            part.upserts.push(m);
        }
        if self.upserts.peek().is_none() {
            while let Some(id) = self.removals.next_if(|id| fits(id.len() + 8)) {
                part.removals.push(id);
            }
        }
        Some(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
