//! SQL of the contact ledger (`contact_claims`, `contact_ledger`,
//! `contact_blocks`, `contact_aliases`; see the migration `…_contacts.sql`).
//!
//! The guarantee: at most one DM per person per `outreach.contact_window`, and
//! none to a person marked do-not-contact, across every rule, replica and
//! restart. A DM claims each of its receiver keys (and their aliases) in the
//! transaction that writes its attempt before the call ([`ContactConn::claim_on`]):
//! one upsert per key that only overwrites a claim of its own or one older than
//! the window, taken in sorted key order. Two replicas racing on a person
//! serialize on those rows (PostgreSQL's unique index, SQLite's single writer),
//! so exactly one of them gets to call. A DM that ends without being sent
//! (`dead`, `skipped`) gives its claims back in the transaction of that finish
//! ([`ContactConn::settle_on`]); one that was sent, reconciled or whose outcome
//! is unknown keeps them (the person may have been contacted).
//!
//! [`ContactConn::cancel_dms_on`] runs the lifecycle's `do-not-contact`
//! transition (`store::lifecycle`), the one status change the ledger makes.

use super::Store;
use super::action_rows::{in_tx, on_pool};
use super::status::ActionStatus;
use crate::contacts::Receiver;
pub use crate::contacts::{Block, Holder, Refusal};

/// A DM's claim on its receiver's window.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub action_id: i64,
    pub rule: &'a str,
    pub receiver: &'a Receiver,
    /// `None`: the window is off (the claim is recorded, never refused).
    pub window_ms: Option<i64>,
}

/// What `starling contacts block` or `starling.do_not_contact` marks.
#[derive(Debug, Clone)]
pub struct BlockTarget<'a> {
    pub receiver: &'a Receiver,
    pub reason: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub action_id: Option<i64>,
}

const ALIAS: &str = "INSERT INTO contact_aliases (user_key, handle_key, seen_at) VALUES ($1, $2, $3) \
    ON CONFLICT (user_key, handle_key) DO NOTHING";
const HANDLES_OF: &str = "SELECT handle_key FROM contact_aliases WHERE user_key = $1";
const IDS_OF: &str = "SELECT user_key FROM contact_aliases WHERE handle_key = $1";
const BLOCK_OF: &str =
    "SELECT receiver, blocked_at, reason, rule, action_id FROM contact_blocks WHERE receiver = $1";
const HOLDER_OF: &str = "SELECT c.receiver, c.action_id, c.rule, c.claimed_at, a.status \
    FROM contact_claims c LEFT JOIN actions a ON a.id = c.action_id \
    WHERE c.receiver = $1 AND c.action_id <> $2 AND c.claimed_at > $3";
const CLAIM: &str = "INSERT INTO contact_claims (receiver, action_id, rule, claimed_at) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (receiver) DO UPDATE SET action_id = excluded.action_id, rule = excluded.rule, \
      claimed_at = excluded.claimed_at \
    WHERE contact_claims.action_id = excluded.action_id OR contact_claims.claimed_at <= $5 \
    RETURNING action_id";
const RECORD: &str = "INSERT INTO contact_ledger (receiver, action_id, rule, claimed_at) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (receiver, action_id) DO UPDATE SET claimed_at = excluded.claimed_at, released_at = NULL";
const RELEASE_CLAIMS: &str = "DELETE FROM contact_claims WHERE action_id = $1";
const RELEASE_LEDGER: &str =
    "UPDATE contact_ledger SET released_at = $2 WHERE action_id = $1 AND released_at IS NULL";
/// The cooldown this action's rule claimed with its event, given back.
const RELEASE_COOLDOWN: &str = "DELETE FROM rule_cooldowns \
    WHERE rule = (SELECT rule FROM actions WHERE id = $1) AND event_id = (SELECT event_id FROM actions WHERE id = $1)";
const BLOCK: &str = "INSERT INTO contact_blocks (receiver, blocked_at, reason, rule, action_id) \
    VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (receiver) DO UPDATE SET reason = COALESCE(excluded.reason, contact_blocks.reason), \
      rule = COALESCE(excluded.rule, contact_blocks.rule), \
      action_id = COALESCE(excluded.action_id, contact_blocks.action_id)";
const UNBLOCK: &str = "DELETE FROM contact_blocks WHERE receiver = $1";
/// The contact ledger's statements on an open connection or transaction.
pub(crate) trait ContactConn {
    /// The receiver's keys and every key remembered as the same person.
    async fn person_keys(&mut self, receiver: &Receiver) -> Result<Vec<String>, sqlx::Error>;
    /// The first do-not-contact mark on any of `keys`.
    async fn block_of(&mut self, keys: &[String]) -> Result<Option<Block>, sqlx::Error>;
    /// Another DM's claim on one of `keys` taken after `since` (ms).
    async fn holder_of(
        &mut self,
        keys: &[String],
        me: i64,
        since: i64,
    ) -> Result<Option<Holder>, sqlx::Error>;
    /// Claims the receiver's window for the DM, or says why it may not go out
    /// (then nothing of the DM's stays claimed).
    async fn claim_on(
        &mut self,
        c: &Claim<'_>,
        now: i64,
    ) -> Result<Result<(), Refusal>, sqlx::Error>;
    /// After a finish moved the action to `status`: a DM not sent gives its
    /// claims back; `release_cooldown` gives back its rule's cooldown.
    async fn settle_on(
        &mut self,
        action_id: i64,
        status: ActionStatus,
        release_cooldown: bool,
        now: i64,
    ) -> Result<(), sqlx::Error>;
    /// Marks a person do-not-contact and cancels their queued DMs; returns their ids.
    async fn block_on(&mut self, t: &BlockTarget<'_>, now: i64) -> Result<Vec<i64>, sqlx::Error>;
    /// Cancels queued DMs (`pending`, `failed`, `held`) with `why` as their last error.
    async fn cancel_dms_on(&mut self, ids: &[i64], why: &str, now: i64) -> Result<(), sqlx::Error>;
}

macro_rules! contact_conn {
    ($conn:ty) => {
        impl ContactConn for $conn {
            async fn person_keys(
                &mut self,
                receiver: &Receiver,
            ) -> Result<Vec<String>, sqlx::Error> {
                let mut keys = receiver.keys();
                for key in receiver.keys() {
                    let sql = if key.starts_with("id:") {
                        HANDLES_OF
                    } else {
                        IDS_OF
                    };
                    let more: Vec<String> = sqlx::query_scalar(sql)
                        .bind(&key)
                        .fetch_all(&mut *self)
                        .await?;
                    keys.extend(more);
                }
                keys.sort();
                keys.dedup();
                Ok(keys)
            }

            async fn block_of(&mut self, keys: &[String]) -> Result<Option<Block>, sqlx::Error> {
                for key in keys {
                    let found = sqlx::query_as::<_, Block>(BLOCK_OF)
                        .bind(key)
                        .fetch_optional(&mut *self)
                        .await?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                Ok(None)
            }

            async fn holder_of(
                &mut self,
                keys: &[String],
                me: i64,
                since: i64,
            ) -> Result<Option<Holder>, sqlx::Error> {
                for key in keys {
                    let found = sqlx::query_as::<_, Holder>(HOLDER_OF)
                        .bind(key)
                        .bind(me)
                        .bind(since)
                        .fetch_optional(&mut *self)
                        .await?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                Ok(None)
            }

            async fn claim_on(
                &mut self,
                c: &Claim<'_>,
                now: i64,
            ) -> Result<Result<(), Refusal>, sqlx::Error> {
                if let Some((user, handle)) = c.receiver.alias() {
                    sqlx::query(ALIAS)
                        .bind(user)
                        .bind(handle)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                let keys = self.person_keys(c.receiver).await?;
                let mut refusal = self.block_of(&keys).await?.map(Refusal::DoNotContact);
                // With the window off every claim overwrites (kept for the record only).
                let expired = c.window_ms.map_or(i64::MAX, |w| now - w);
                for key in &keys {
                    if refusal.is_some() {
                        break;
                    }
                    let won: Option<i64> = sqlx::query_scalar(CLAIM)
                        .bind(key)
                        .bind(c.action_id)
                        .bind(c.rule)
                        .bind(now)
                        .bind(expired)
                        .fetch_optional(&mut *self)
                        .await?;
                    if won.is_none() {
                        let held = std::slice::from_ref(key);
                        refusal = self
                            .holder_of(held, c.action_id, i64::MIN)
                            .await?
                            .map(Refusal::Contacted);
                        continue;
                    }
                    sqlx::query(RECORD)
                        .bind(key)
                        .bind(c.action_id)
                        .bind(c.rule)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                match refusal {
                    Some(refusal) => {
                        self.settle_on(c.action_id, ActionStatus::Skipped, false, now)
                            .await?;
                        Ok(Err(refusal))
                    }
                    None => Ok(Ok(())),
                }
            }

            async fn settle_on(
                &mut self,
                action_id: i64,
                status: ActionStatus,
                release_cooldown: bool,
                now: i64,
            ) -> Result<(), sqlx::Error> {
                if matches!(status, ActionStatus::Dead | ActionStatus::Skipped) {
                    sqlx::query(RELEASE_CLAIMS)
                        .bind(action_id)
                        .execute(&mut *self)
                        .await?;
                    sqlx::query(RELEASE_LEDGER)
                        .bind(action_id)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                if release_cooldown {
                    sqlx::query(RELEASE_COOLDOWN)
                        .bind(action_id)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(())
            }

            async fn block_on(
                &mut self,
                t: &BlockTarget<'_>,
                now: i64,
            ) -> Result<Vec<i64>, sqlx::Error> {
                if let Some((user, handle)) = t.receiver.alias() {
                    sqlx::query(ALIAS)
                        .bind(user)
                        .bind(handle)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                for key in t.receiver.keys() {
                    sqlx::query(BLOCK)
                        .bind(key)
                        .bind(now)
                        .bind(t.reason)
                        .bind(t.rule)
                        .bind(t.action_id)
                        .execute(&mut *self)
                        .await?;
                }
                let person = self.person_keys(t.receiver).await?;
                let open: Vec<(i64, String, String, String, String)> =
                    sqlx::query_as(super::lifecycle::QUEUED_DMS.as_str())
                        .fetch_all(&mut *self)
                        .await?;
                let ids: Vec<i64> = open
                    .into_iter()
                    .filter(|(_, params, source, kind, payload)| {
                        dm_receiver(
                            &serde_json::from_str(params).unwrap_or_default(),
                            source,
                            kind,
                            payload,
                        )
                        .keys()
                        .iter()
                        .any(|k| person.contains(k))
                    })
                    .map(|(id, ..)| id)
                    .collect();
                let block = Block {
                    receiver: t.receiver.describe(),
                    blocked_at: now,
                    reason: t.reason.map(str::to_string),
                    rule: t.rule.map(str::to_string),
                    action_id: t.action_id,
                };
                self.cancel_dms_on(&ids, &block.describe(now), now).await?;
                Ok(ids)
            }

            async fn cancel_dms_on(
                &mut self,
                ids: &[i64],
                why: &str,
                now: i64,
            ) -> Result<(), sqlx::Error> {
                for id in ids {
                    sqlx::query(super::lifecycle::CANCEL_DO_NOT_CONTACT.as_str())
                        .bind(id)
                        .bind(now)
                        .bind(why)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(())
            }
        }
    };
}
contact_conn!(sqlx::SqliteConnection);
contact_conn!(sqlx::PgConnection);

/// The receiver of a stored DM action, from its parameters and its event.
pub fn dm_receiver(
    params: &serde_json::Value,
    source: &str,
    kind: &str,
    payload: &str,
) -> Receiver {
    let payload: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    Receiver::of_dm(params, kind, &crate::event::rule_data(source, &payload))
}

/// (source, kind, payload) of the event that fired action `action_id`.
pub async fn event_of(
    store: &Store,
    action_id: i64,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    let sql = "SELECT e.source, e.kind, CAST(e.payload AS TEXT) FROM actions a JOIN events e ON e.id = a.event_id WHERE a.id = $1";
    on_pool!(store, pool => sqlx::query_as(sql).bind(action_id).fetch_optional(pool).await)
}

/// Whether a DM would be refused now (read-only; the binding check is the claim).
pub async fn precheck(
    store: &Store,
    receiver: &Receiver,
    me: i64,
    window_ms: Option<i64>,
    now: i64,
) -> Result<Option<Refusal>, sqlx::Error> {
    on_pool!(store, pool => {
        let mut conn = pool.acquire().await?;
        let keys = conn.person_keys(receiver).await?;
        if let Some(block) = conn.block_of(&keys).await? {
            return Ok(Some(Refusal::DoNotContact(block)));
        }
        match window_ms {
            Some(w) => Ok(conn.holder_of(&keys, me, now - w).await?.map(Refusal::Contacted)),
            None => Ok(None),
        }
    })
}

/// Marks a person do-not-contact and cancels their queued DMs (one transaction).
pub async fn block(
    store: &Store,
    target: &BlockTarget<'_>,
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    Ok(in_tx!(store, tx => tx.block_on(target, now).await?))
}

/// Lifts every do-not-contact mark of the person; how many were lifted.
pub async fn unblock(store: &Store, receiver: &Receiver) -> Result<u64, sqlx::Error> {
    Ok(in_tx!(store, tx => {
        let keys = tx.person_keys(receiver).await?;
        let mut lifted = 0;
        for key in &keys {
            lifted += sqlx::query(UNBLOCK).bind(key).execute(&mut *tx).await?.rows_affected();
        }
        lifted
    }))
}
