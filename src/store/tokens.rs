//! API tokens of `jingtu serve`. A token is shown once, when created; the store keeps only its SHA-256,
//! so a copy of the store (a backup, a file handed to a colleague) holds no credential. A request's
//! token is hashed and compared with every live token's hash in constant time, so neither the timing of
//! the comparison nor an index lookup tells how much of a guess was right.

use std::io::Read;

use base64::Engine;
use rusqlite::params;
use sha2::{Digest, Sha256};

use super::{Store, gpkg_datetime};
use crate::error::{Error, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read every collection and the changefeed.
    Read,
    /// Read, and record reviews.
    Review,
}

impl Scope {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Review => "review",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Scope> {
        [Scope::Read, Scope::Review].into_iter().find(|k| k.name() == s)
    }
}

/// A token as `jingtu token list` shows it (never the token itself, which the store does not have).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its scope.
    pub scope: String,
    /// When it was created.
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// The SHA-256 of a token (stored as hex).
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equality of two hashes that takes the same time wherever they differ.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold back into an early exit.
    std::hint::black_box(diff) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A new token: `jt_` and 256 random bits from the kernel, base64url.
fn new_token(store: &Store) -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::store(&store.path, format!("cannot draw a random token from /dev/urandom: {e}")))?;
    Ok(format!("jt_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

impl Store {
    /// Creates a token named `name` and returns it: the only time it is ever seen.
    pub fn create_token(&self, name: &str, scope: Scope) -> Result<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::Usage("--name: give the token a name of 1 to 100 characters".into()));
        }
        let token = new_token(self)?;
        let inserted = self.conn.execute(
            "INSERT INTO api_tokens (name, scope, sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, scope.name(), hex(&hash(&token)), gpkg_datetime(chrono::Utc::now())],
        );
        match inserted {
            Ok(_) => Ok(token),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(Error::store(
                    &self.path,
                    format!("a token named '{name}' exists already; revoke it or choose another name"),
                ))
            }
            Err(e) => Err(Error::store(&self.path, e)),
        }
    }

    /// Revokes the token named `name`; false when there is no live token of that name.
    pub fn revoke_token(&self, name: &str) -> Result<bool> {
        self.conn
            .execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, gpkg_datetime(chrono::Utc::now())],
            )
            .map(|n| n > 0)
            .map_err(|e| Error::store(&self.path, e))
    }

    /// Every token, live or revoked, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, scope, created_at, revoked_at FROM api_tokens ORDER BY name")
            .map_err(|e| Error::store(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TokenInfo { name: r.get(0)?, scope: r.get(1)?, created_at: r.get(2)?, revoked_at: r.get(3)? })
            })
            .map_err(|e| Error::store(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| Error::store(&self.path, e))
    }

    /// The name and scope of the live token `token`, or `None` for an unknown or revoked one. Every
    /// live hash is compared, whichever matches.
    pub fn authenticate(&self, token: &str) -> Result<Option<(String, Scope)>> {
        let presented = hash(token);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, scope, sha256 FROM api_tokens WHERE revoked_at IS NULL")
            .map_err(|e| Error::store(&self.path, e))?;
        let rows: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| Error::store(&self.path, e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| Error::store(&self.path, e))?;
        let mut found = None;
        for (name, scope, stored) in rows {
            let Some(stored) = unhex(&stored) else { continue };
            if constant_time_eq(&presented, &stored) {
                found = Scope::parse(&scope).map(|s| (name, s));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_authenticates_until_revoked_and_only_its_hash_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(&dir.path().join("s.gpkg"))).unwrap();
        let t = store.create_token("registry", Scope::Read).unwrap();
        assert!(t.starts_with("jt_") && t.len() > 40);
        assert!(store.create_token("registry", Scope::Review).is_err(), "names are unique");
        assert_eq!(store.authenticate(&t).unwrap(), Some(("registry".into(), Scope::Read)));
        assert_eq!(store.authenticate("jt_nope").unwrap(), None);
        let stored: String = store.connection().query_row("SELECT sha256 FROM api_tokens", [], |r| r.get(0)).unwrap();
        assert!(!stored.contains(&t[3..]) && stored == hex(&hash(&t)));
        assert!(store.revoke_token("registry").unwrap());
        assert!(!store.revoke_token("registry").unwrap());
        assert_eq!(store.authenticate(&t).unwrap(), None);
        assert!(constant_time_eq(&hash("a"), &hash("a")) && !constant_time_eq(&hash("a"), &hash("b")));
    }
}
