//! Field checks of flags: what an analyst found where a flag pointed (`jingtu review`, and
//! `POST /flags/{flag_id}/reviews` of `jingtu serve`). Kept in `flag_reviews`, append-only (triggers
//! refuse updates and deletes: a flag's review history is evidence), timestamped, and published in the
//! changefeed: a review appends a `changes` row with op `review`, so registry services that pull the feed
//! get the flag again with its review.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Store, gpkg_datetime};
use crate::error::{Error, Result};

/// The `changes.op` of a review (scans write `upsert` and `resolve`).
pub const CHANGE_OP: &str = "review";

/// Longest note kept, in characters: a review is a finding, not a file store.
pub const MAX_NOTE_CHARS: usize = 4000;
/// Longest reviewer name, in characters.
pub const MAX_REVIEWER_CHARS: usize = 200;

/// What a field check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The flagged change is real and not allowed.
    Confirmed,
    /// Nothing happened on the ground (clouds, a crop, a misread).
    FalseAlarm,
    /// The change is real but allowed (remediation works, a permit).
    Permitted,
    /// The change was real and the ground has been restored.
    Remediated,
}

impl Outcome {
    /// Every outcome, in the order the help text lists them.
    pub const ALL: [Outcome; 4] = [Outcome::Confirmed, Outcome::FalseAlarm, Outcome::Permitted, Outcome::Remediated];

    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::FalseAlarm => "false_alarm",
            Outcome::Permitted => "permitted",
            Outcome::Remediated => "remediated",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// One recorded review.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Review {
    /// Row id in `flag_reviews` (increasing: the latest review has the largest).
    pub review_id: i64,
    /// The flag reviewed.
    pub flag_id: String,
    /// What was found (a stored name of [`Outcome`]).
    pub outcome: String,
    /// Free text.
    pub note: Option<String>,
    /// Who checked.
    pub reviewer: String,
    /// When it was recorded (GeoPackage DATETIME, UTC).
    pub reviewed_at: String,
    /// How it was recorded: `cli`, or `token:NAME` for the API token that posted it.
    pub recorded_by: Option<String>,
}

/// Checks a review's free text before anything is written; the message names the field.
pub fn validate(reviewer: &str, note: Option<&str>) -> Result<()> {
    let reviewer = reviewer.trim();
    if reviewer.is_empty() {
        return Err(Error::Usage("reviewer: empty; say who checked the flag".into()));
    }
    if reviewer.chars().count() > MAX_REVIEWER_CHARS {
        return Err(Error::Usage(format!("reviewer: longer than {MAX_REVIEWER_CHARS} characters")));
    }
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(Error::Usage(format!("note: longer than {MAX_NOTE_CHARS} characters")));
    }
    Ok(())
}

impl Store {
    /// Records a review of `flag_id` and publishes it in the changefeed, in one transaction. `None`
    /// when the store has no such flag (nothing is written).
    pub fn add_review(
        &mut self,
        flag_id: &str,
        outcome: Outcome,
        note: Option<&str>,
        reviewer: &str,
        recorded_by: &str,
    ) -> Result<Option<Review>> {
        validate(reviewer, note)?;
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| Error::store(&path, e);
        // IMMEDIATE: take the write lock first, so the flag cannot go away between the check and the insert.
        let txn = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(fail)?;
        let exists = txn
            .query_row("SELECT 1 FROM flags WHERE flag_id = ?1", [flag_id], |_| Ok(()))
            .optional()
            .map_err(fail)?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let now = gpkg_datetime(chrono::Utc::now());
        txn.execute(
            "INSERT INTO flag_reviews (flag_id, outcome, note, reviewer, reviewed_at, recorded_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![flag_id, outcome.name(), note, reviewer.trim(), now, recorded_by],
        )
        .map_err(fail)?;
        let review_id = txn.last_insert_rowid();
        txn.execute(
            "INSERT INTO changes (scan_id, flag_id, op) VALUES (?1, ?2, ?3)",
            params![format!("review-{review_id}"), flag_id, CHANGE_OP],
        )
        .map_err(fail)?;
        txn.commit().map_err(fail)?;
        Ok(Some(Review {
            review_id,
            flag_id: flag_id.to_string(),
            outcome: outcome.name().to_string(),
            note: note.map(str::to_string),
            reviewer: reviewer.trim().to_string(),
            reviewed_at: now,
            recorded_by: Some(recorded_by.to_string()),
        }))
    }

    /// The latest review of a flag.
    pub fn latest_review(&self, flag_id: &str) -> Result<Option<Review>> {
        self.reviews_where("flag_id = ?1 ORDER BY fid DESC LIMIT 1", [flag_id]).map(|mut v| v.pop())
    }

    /// Every review of a flag, oldest first.
    pub fn reviews(&self, flag_id: &str) -> Result<Vec<Review>> {
        self.reviews_where("flag_id = ?1 ORDER BY fid", [flag_id])
    }

    fn reviews_where<P: rusqlite::Params>(&self, filter: &str, params: P) -> Result<Vec<Review>> {
        let sql = format!(
            "SELECT fid, flag_id, outcome, note, reviewer, reviewed_at, recorded_by FROM flag_reviews WHERE {filter}"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| Error::store(&self.path, e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(Review {
                    review_id: r.get(0)?,
                    flag_id: r.get(1)?,
                    outcome: r.get(2)?,
                    note: r.get(3)?,
                    reviewer: r.get(4)?,
                    reviewed_at: r.get(5)?,
                    recorded_by: r.get(6)?,
                })
            })
            .map_err(|e| Error::store(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| Error::store(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_and_reviews_are_append_only() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.name()), Some(o));
        }
        assert_eq!(Outcome::parse("maybe"), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let mut store = Store::open(Some(&path)).unwrap();
        assert!(store.add_review("nope", Outcome::Confirmed, None, "ana", "cli").unwrap().is_none());
        store
            .connection()
            .execute("INSERT INTO flags (geom, flag_id, kind, status) VALUES (X'', 'f1', 'construction', 'new')", [])
            .unwrap();
        let r = store.add_review("f1", Outcome::FalseAlarm, Some("a crop"), " ana ", "cli").unwrap().unwrap();
        assert_eq!(r.reviewer, "ana");
        assert_eq!(store.latest_review("f1").unwrap().unwrap(), r);
        assert!(store.add_review("f1", Outcome::Confirmed, None, " ", "cli").is_err(), "empty reviewer");
        let changes = store.flags_changed_since(0).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].cause, "review");
        assert!(store.connection().execute("UPDATE flag_reviews SET outcome = 'confirmed'", []).is_err());
        assert!(store.connection().execute("DELETE FROM flag_reviews", []).is_err());
    }
}
