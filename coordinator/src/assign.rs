//! Rendezvous (highest-random-weight) assignment of monitors to the agents of one region,
//! weighted by capacity: an agent joining or leaving moves only its own share of monitors.

/// The connected agents of one region, with their hashes precomputed for fast picks.
#[derive(Debug, Default, Clone)]
pub struct Rendezvous {
    agents: Vec<Candidate>,
    /// Every agent has the same weight: the highest hash wins, no logarithm needed.
    uniform: bool,
}

#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    hash: u64,
    weight: f64,
}

impl Rendezvous {
    /// Builds the candidate set from `(agent_id, capacity)` pairs; capacity 0 counts as 1.
    pub fn new<'a>(agents: impl IntoIterator<Item = (&'a str, u32)>) -> Rendezvous {
        let agents = agents
            .into_iter()
            .map(|(id, capacity)| Candidate {
                id: id.to_string(),
                hash: splitmix64(fnv1a(id.as_bytes())),
                weight: f64::from(capacity.max(1)),
            })
            .collect::<Vec<Candidate>>();
        let uniform = agents.windows(2).all(|w| w[0].weight == w[1].weight);
        Rendezvous { agents, uniform }
    }

    /// The agent that runs `monitor_id`, or `None` when no agent is connected.
    pub fn pick(&self, monitor_id: &str) -> Option<&str> {
        self.pick_key(key(monitor_id)).map(|i| self.id(i))
    }

    /// The position of the agent that wins `key` (see [`key`]), or `None` without agents.
    /// Each agent scores `weight / -ln(u)` with `u` uniform in (0, 1) from the pair's hash;
    /// the highest score wins, so an agent's expected share is proportional to its weight.
    pub fn pick_key(&self, key: u64) -> Option<usize> {
        let first = (0, self.score(0, key)?);
        Some(
            (1..self.agents.len())
                .fold(first, |best, i| self.better(key, best, i))
                .0,
        )
    }

    /// Of the agent at `owner` and those at `challengers`, the position of the one that wins
    /// `key`: the same as [`Rendezvous::pick_key`] when `owner` wins among all the others.
    pub fn challenge(&self, key: u64, owner: usize, challengers: &[usize]) -> usize {
        let first = (owner, self.score(owner, key).unwrap_or(f64::MIN));
        challengers
            .iter()
            .fold(first, |best, &i| self.better(key, best, i))
            .0
    }

    /// Whichever of `best` (a position and its score for `key`) and the agent at `i` wins.
    fn better(&self, key: u64, best: (usize, f64), i: usize) -> (usize, f64) {
        let c = &self.agents[i];
        let score = self.score(i, key).unwrap_or(f64::MIN);
        // Ties are practically impossible; break them by id so every replica agrees.
        if score > best.1 || (score == best.1 && c.id < self.agents[best.0].id) {
            (i, score)
        } else {
            best
        }
    }

    /// The position of `agent_id` among the candidates.
    pub fn position(&self, agent_id: &str) -> Option<usize> {
        self.agents.iter().position(|c| c.id == agent_id)
    }

    /// The id of the agent at position `i`.
    pub fn id(&self, i: usize) -> &str {
        &self.agents[i].id
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The score of the agent at `i` for `key`. With equal weights, `u` orders the agents as
    /// `weight / -ln(u)` does, for a fraction of the cost.
    fn score(&self, i: usize, key: u64) -> Option<f64> {
        let c = self.agents.get(i)?;
        let u = unit(splitmix64(key ^ c.hash));
        Some(if self.uniform { u } else { c.weight / -u.ln() })
    }
}

/// What a monitor id is hashed to before each agent's score is drawn from it.
pub fn key(monitor_id: &str) -> u64 {
    fnv1a(monitor_id.as_bytes())
}

/// Maps a hash to a float strictly inside (0, 1).
fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// FNV-1a: stable across processes and Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The splitmix64 finalizer, spreading FNV's weak low-order mixing over all bits.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn monitors(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("mon_{i:08}")).collect()
    }

    fn counts(r: &Rendezvous, ms: &[String]) -> HashMap<String, usize> {
        let mut c = HashMap::new();
        for m in ms {
            *c.entry(r.pick(m).expect("an agent").to_string())
                .or_insert(0) += 1;
        }
        c
    }

    #[test]
    fn no_agents_no_owner() {
        assert_eq!(Rendezvous::new([]).pick("mon_1"), None);
    }

    #[test]
    fn equal_capacity_spreads_evenly() {
        let ms = monitors(20_000);
        let r = Rendezvous::new([("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        for (agent, n) in counts(&r, &ms) {
            assert!((4_500..=5_500).contains(&n), "{agent} got {n} of 20000");
        }
    }

    #[test]
    fn share_follows_capacity() {
        let ms = monitors(20_000);
        let r = Rendezvous::new([("small", 1), ("big", 3)]);
        let c = counts(&r, &ms);
        assert!(
            (4_500..=5_500).contains(&c["small"]),
            "small got {}",
            c["small"]
        );
        assert!(
            (14_500..=15_500).contains(&c["big"]),
            "big got {}",
            c["big"]
        );
    }

    #[test]
    fn join_moves_only_to_the_new_agent() {
        let ms = monitors(10_000);
        let before = Rendezvous::new([("a", 1), ("b", 1), ("c", 1)]);
        let after = Rendezvous::new([("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        let mut moved = 0;
        for m in &ms {
            let (old, new) = (before.pick(m), after.pick(m));
            if old != new {
                assert_eq!(new, Some("d"), "{m} moved between old agents");
                moved += 1;
            }
        }
        assert!((2_000..=3_000).contains(&moved), "moved {moved} of 10000");
    }

    #[test]
    fn leave_moves_only_the_leavers_share() {
        let ms = monitors(10_000);
        let before = Rendezvous::new([("a", 2), ("b", 1), ("c", 1)]);
        let after = Rendezvous::new([("a", 2), ("c", 1)]);
        for m in &ms {
            let old = before.pick(m);
            if old != Some("b") {
                assert_eq!(after.pick(m), old, "{m} moved although its agent stayed");
            }
        }
    }

    #[test]
    fn a_challenge_by_newcomers_agrees_with_a_full_pick() {
        let ms = monitors(5_000);
        let before = Rendezvous::new([("a", 1), ("b", 3)]);
        let after = Rendezvous::new([("a", 1), ("b", 3), ("c", 2), ("d", 1)]);
        let newcomers = [after.position("c"), after.position("d")].map(|p| p.expect("newcomer"));
        for m in &ms {
            let owner = before.pick(m).and_then(|o| after.position(o));
            let owner = owner.expect("an owner among the agents");
            let won = after.challenge(key(m), owner, &newcomers);
            assert_eq!(Some(after.id(won)), after.pick(m), "{m}");
        }
    }

    #[test]
    fn order_of_agents_does_not_matter() {
        let ms = monitors(1_000);
        let x = Rendezvous::new([("a", 1), ("b", 2), ("c", 1)]);
        let y = Rendezvous::new([("c", 1), ("a", 1), ("b", 2)]);
        for m in &ms {
            assert_eq!(x.pick(m), y.pick(m));
        }
    }
}
