//! Where `lookout standalone` gets its secret key: `LOOKOUT_SECRET_KEY`, else
//! `secret_key_file`, else a key file beside the SQLite database, created on the first start
//! (mode 0600) so a laptop run needs no setup and its secrets are still sealed at rest. On a
//! PostgreSQL store a key must be configured.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lookout_store::{KeyError, Keyring};

/// The key id of a key standalone creates.
const CREATED_KEY_ID: &str = "k1";

/// The keys for the database at `store_url`, and the path of the key file when this call
/// created it (the caller says so once).
pub fn standalone_keyring(
    store_url: &str,
    secret_key_file: Option<&Path>,
) -> Result<(Keyring, Option<PathBuf>)> {
    // A URL the store cannot use is the first thing to say.
    let backend = lookout_store::backend_of(store_url)?;
    let env = std::env::var(lookout_store::seal::KEY_ENV).ok();
    if let Some(k) = Keyring::from_env_or_file(env.as_deref(), secret_key_file)? {
        return Ok((k, None));
    }
    if backend != lookout_store::Backend::Sqlite {
        // A server database outlives this process and has no folder to keep a key in.
        return Err(KeyError::Missing.into());
    }
    let Some(path) = key_path(store_url) else {
        // An in-memory database lives as long as this process; so does its key.
        return Ok((Keyring::generate(CREATED_KEY_ID)?, None));
    };
    match create(&path) {
        Ok(()) => Ok((Keyring::read(&path)?, Some(path))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((Keyring::read(&path)?, None))
        }
        Err(e) => {
            Err(e).with_context(|| format!("creating the secret key file {}", path.display()))
        }
    }
}

/// `lookout.key` beside `sqlite://dir/lookout.db`; `None` for an in-memory database.
fn key_path(store_url: &str) -> Option<PathBuf> {
    let rest = store_url
        .strip_prefix("sqlite://")
        .or_else(|| store_url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or(rest);
    if file.is_empty() || file.contains(":memory:") || file.starts_with("file::memory") {
        return None;
    }
    Some(Path::new(file).with_extension("key"))
}

/// Writes a new key to `path`, readable by this user only; fails if the file exists.
fn create(path: &Path) -> std::io::Result<()> {
    let key =
        Keyring::new_key_text(CREATED_KEY_ID).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(
        f,
        "# The key Lookout seals this database's secrets with. Without it the database does\n\
         # not open: back it up, apart from the database. Rotation: `lookout secrets rotate`.\n{key}"
    )?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_sit_beside_the_database() {
        assert_eq!(
            key_path("sqlite://data/lookout.db"),
            Some(PathBuf::from("data/lookout.key"))
        );
        assert_eq!(
            key_path("sqlite:/var/lib/l.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/l.key"))
        );
        assert_eq!(key_path("sqlite::memory:"), None);
        assert_eq!(key_path("postgres://db/x"), None);
    }
}
