//! The AEAD keyring that seals secrets at rest: AES-256-GCM (`ring`) under named keys, the
//! first of which seals new values while the others only open values sealed before a rotation.
//!
//! A sealed value is `[version 1][id length][key id][96-bit random nonce][ciphertext + tag]`.
//! The associated data is the header plus the place the value lives (e.g. `monitors.spec` and
//! the row id), so a sealed value copied into another row or column does not open.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The environment variable holding the keys: `id:base64-32-bytes[,id:base64...]`.
pub const KEY_ENV: &str = "LOOKOUT_SECRET_KEY";
/// Format version written as the first byte of every sealed value.
const VERSION: u8 = 1;
/// Bytes of an AES-256 key.
const KEY_LEN: usize = 32;
/// Longest key id: ids are stored in every sealed value.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Bad key material; names where it came from and why, never the key itself.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{origin}: holds no key; expected id:base64-32-bytes[,id:base64...]")]
    Empty { origin: String },
    #[error("{origin}: key {entry}: {reason}")]
    Entry {
        origin: String,
        entry: usize,
        reason: String,
    },
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no secret key: set LOOKOUT_SECRET_KEY or secret_key_file (id:base64-32-bytes, e.g. \
         k1:$(openssl rand -base64 32))"
    )]
    Missing,
    #[error("no random numbers from the operating system")]
    Random,
}

/// A value that cannot be sealed or opened. The messages name the key id, never the key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed value (unknown format or truncated)")]
    Format,
    #[error("sealed with key id {id:?}, which is not configured")]
    UnknownKey { id: String },
    #[error(
        "does not open with the configured key {id:?} (another key under that id, or the value was altered or moved)"
    )]
    Tampered { id: String },
    #[error("no random numbers from the operating system")]
    Random,
    #[error("value too long for AES-GCM")]
    TooLong,
}

struct Key {
    id: String,
    aead: LessSafeKey,
}

/// The configured keys, current first. Its `Debug` lists key ids only.
pub struct Keyring {
    keys: Vec<Key>,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("ids", &self.ids()).finish()
    }
}

impl Keyring {
    /// Parses keys from `text` (`origin` names the variable or file in errors): entries
    /// `id:base64` separated by commas or newlines; blank lines and `#` comments are skipped.
    /// The first entry is the current key. Ids are 1-32 of `[A-Za-z0-9_-]`, keys 32 bytes in
    /// standard base64, and no id may appear twice.
    pub fn parse(text: &str, origin: &str) -> Result<Keyring, KeyError> {
        let mut keys: Vec<Key> = Vec::new();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (i, entry) in entries.enumerate() {
            let bad = |reason: String| KeyError::Entry {
                origin: origin.to_string(),
                entry: i + 1,
                reason,
            };
            let (id, material) = entry
                .split_once(':')
                .ok_or_else(|| bad("expected id:base64-32-bytes (no ':' found)".into()))?;
            let id = id.trim();
            if !valid_id(id) {
                return Err(bad(format!(
                    "key id {id:?} must be 1-{MAX_KEY_ID_LEN} of [A-Za-z0-9_-]"
                )));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(bad(format!("key id {id:?} appears twice")));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(material.trim())
                .map_err(|_| bad(format!("key {id:?} is not valid base64")))?;
            if bytes.len() != KEY_LEN {
                return Err(bad(format!(
                    "key {id:?} is {} bytes, must be {KEY_LEN} (openssl rand -base64 32)",
                    bytes.len()
                )));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| bad(format!("key {id:?} is not an AES-256 key")))?;
            keys.push(Key {
                id: id.to_string(),
                aead: LessSafeKey::new(unbound),
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty {
                origin: origin.to_string(),
            });
        }
        Ok(Keyring {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// Reads the keys from `path` (one `id:base64` a line).
    pub fn read(path: &Path) -> Result<Keyring, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::File {
            path: path.display().to_string(),
            source,
        })?;
        Keyring::parse(&text, &path.display().to_string())
    }

    /// The keys a process runs with: `LOOKOUT_SECRET_KEY` when set (`env` is its value),
    /// else `file`; `None` when neither is given.
    pub fn from_env_or_file(
        env: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<Keyring>, KeyError> {
        match (env, file) {
            (Some(text), _) => Keyring::parse(text, KEY_ENV).map(Some),
            (None, Some(path)) => Keyring::read(path).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The keys of a coordinator, a notifier or `lookout secrets rotate`: `LOOKOUT_SECRET_KEY`
    /// when set, else the `secret_key_file`; one of them is required.
    pub fn from_process(file: Option<&Path>) -> Result<Keyring, KeyError> {
        let env = std::env::var(KEY_ENV).ok();
        Keyring::from_env_or_file(env.as_deref(), file)?.ok_or(KeyError::Missing)
    }

    /// A new random key in the text form [`Keyring::parse`] reads (`id:base64`).
    pub fn new_key_text(id: &str) -> Result<String, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::Random)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok(format!("{id}:{b64}"))
    }

    /// A keyring of one new random key with id `id` (tests, in-memory databases).
    pub fn generate(id: &str) -> Result<Keyring, KeyError> {
        Keyring::parse(&Keyring::new_key_text(id)?, "generated key")
    }

    /// The id new values are sealed with.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every configured key id, current first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Seals `plaintext` under the current key, bound to `place` (where the value is stored).
    pub fn seal(&self, place: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut out = header(&key.id);
        let aad = associated_data(&out, place);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| SealError::TooLong)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed under any configured key, at the same `place` it was sealed for.
    pub fn open(&self, place: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let id = key_id_of(sealed).ok_or(SealError::Format)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey { id: id.to_string() })?;
        let header_len = 2 + id.len();
        let (head, rest) = sealed.split_at(header_len);
        if rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Format);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Format)?;
        let mut body = body.to_vec();
        let opened = key
            .aead
            .open_in_place(nonce, Aad::from(associated_data(head, place)), &mut body)
            .map_err(|_| SealError::Tampered { id: id.to_string() })?;
        Ok(opened.to_vec())
    }
}

/// The key id recorded in a sealed value, if it has the sealed format.
pub fn key_id_of(sealed: &[u8]) -> Option<&str> {
    let (&version, rest) = sealed.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let id = rest.get(..usize::from(len))?;
    let id = std::str::from_utf8(id).ok()?;
    (version == VERSION && valid_id(id)).then_some(id)
}

fn header(id: &str) -> Vec<u8> {
    // Ids are at most MAX_KEY_ID_LEN (32) bytes, checked when parsed.
    let len = u8::try_from(id.len()).unwrap_or(u8::MAX);
    let mut h = vec![VERSION, len];
    h.extend_from_slice(id.as_bytes());
    h
}

fn associated_data(header: &[u8], place: &[u8]) -> Vec<u8> {
    let mut aad = b"lookout-seal\0".to_vec();
    aad.extend_from_slice(header);
    aad.push(0);
    aad.extend_from_slice(place);
    aad
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn seals_and_opens_at_the_same_place_only() {
        let ring = Keyring::parse(K1, "test").expect("key");
        let sealed = ring.seal(b"monitors.spec\0m1", b"whsec").expect("seal");
        assert_eq!(key_id_of(&sealed), Some("k1"));
        assert!(!sealed.windows(5).any(|w| w == b"whsec"));
        assert_eq!(
            ring.open(b"monitors.spec\0m1", &sealed).expect("open"),
            b"whsec"
        );
        let moved = ring.open(b"monitors.spec\0m2", &sealed).expect_err("moved");
        assert!(matches!(moved, SealError::Tampered { .. }), "{moved}");
        let mut flipped = sealed.clone();
        *flipped.last_mut().expect("non-empty") ^= 1;
        assert!(ring.open(b"monitors.spec\0m1", &flipped).is_err());
        assert!(matches!(
            ring.open(b"x", b"plain protobuf"),
            Err(SealError::Format)
        ));
        // Two seals of one value differ (random nonces).
        assert_ne!(
            sealed,
            ring.seal(b"monitors.spec\0m1", b"whsec").expect("seal")
        );
    }

    #[test]
    fn old_keys_open_and_the_first_seals() {
        let old = Keyring::parse(K1, "test").expect("k1");
        let sealed = old.seal(b"p", b"v").expect("seal");
        let both = format!("{}\n{K1}", Keyring::new_key_text("k2").expect("k2"));
        let both = Keyring::parse(&both, "test").expect("both");
        assert_eq!(both.current_id(), "k2");
        assert_eq!(both.open(b"p", &sealed).expect("old opens"), b"v");
        assert_eq!(key_id_of(&both.seal(b"p", b"v").expect("seal")), Some("k2"));
        let only_k2 = Keyring::generate("k2").expect("k2");
        let e = only_k2.open(b"p", &sealed).expect_err("k1 missing");
        assert_eq!(
            e.to_string(),
            "sealed with key id \"k1\", which is not configured"
        );
    }

    #[test]
    fn bad_key_material_is_refused_in_words_without_the_key() {
        let short = "k1:c2hvcnQ=";
        let cases = [
            ("", "holds no key"),
            ("k1", "no ':' found"),
            ("bad id!:AAAA", "must be 1-32 of"),
            ("k1:not base64!", "not valid base64"),
            (short, "is 5 bytes, must be 32"),
            (&format!("{K1},{K1}"), "key 2: key id \"k1\" appears twice"),
        ];
        for (text, expected) in cases {
            let e = Keyring::parse(text, KEY_ENV).expect_err(text).to_string();
            assert!(e.starts_with("LOOKOUT_SECRET_KEY: "), "{e}");
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains("c2hvcnQ") && !e.contains("AAECAw"), "{e}");
        }
    }

    #[test]
    fn debug_lists_ids_only() {
        let ring =
            Keyring::parse(&format!("# current, then old: a, b\n{K1}\n"), "test").expect("key");
        assert_eq!(format!("{ring:?}"), "Keyring { ids: [\"k1\"] }");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys");
        std::fs::write(&path, Keyring::new_key_text("file").expect("key")).expect("write");
        let from_file = Keyring::from_env_or_file(None, Some(&path)).expect("file");
        assert_eq!(from_file.expect("some").current_id(), "file");
        let from_env = Keyring::from_env_or_file(Some(K1), Some(&path)).expect("env");
        assert_eq!(from_env.expect("some").current_id(), "k1");
        assert!(
            Keyring::from_env_or_file(None, None)
                .expect("none")
                .is_none()
        );
        let bad = dir.path().join("bad-keys");
        std::fs::write(&bad, format!("{K1}\nk2:AAAA\n")).expect("write");
        let e = Keyring::from_env_or_file(None, Some(&bad)).expect_err("short second key");
        let e = e.to_string();
        assert!(
            e.starts_with(&format!("{}: key 2: key \"k2\" is 3 bytes", bad.display())),
            "{e}"
        );
        let missing = Keyring::from_env_or_file(None, Some(&dir.path().join("nope")));
        assert!(missing.expect_err("missing").to_string().contains("nope"));
    }
}
