//! The `DELETE`s of one batch, children before parents, and which total each
//! adds to: what goes with an event, written once for deleting and (turned into
//! `SELECT COUNT(*)`) for a dry run.

use super::{Pruned, Table};

pub(super) fn add(totals: &mut Pruned, step: &Pruned) {
    totals.events += step.events;
    totals.event_sightings += step.event_sightings;
    totals.rule_matches += step.rule_matches;
    totals.actions += step.actions;
    totals.action_attempts += step.action_attempts;
    totals.dm_deliveries += step.dm_deliveries;
    totals.scheduled_tweets += step.scheduled_tweets;
    totals.quarantine += step.quarantine;
    totals.jobs += step.jobs;
}

/// Which total a deletion adds to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Count {
    Events,
    Sightings,
    Matches,
    Actions,
    Attempts,
    Deliveries,
    Tweets,
    Quarantine,
}

impl Count {
    pub(super) fn of(self, p: &mut Pruned) -> &mut u64 {
        match self {
            Count::Events => &mut p.events,
            Count::Sightings => &mut p.event_sightings,
            Count::Matches => &mut p.rule_matches,
            Count::Actions => &mut p.actions,
            Count::Attempts => &mut p.action_attempts,
            Count::Deliveries => &mut p.dm_deliveries,
            Count::Tweets => &mut p.scheduled_tweets,
            Count::Quarantine => &mut p.quarantine,
        }
    }
}

/// The `DELETE`s of a batch of confirmed ids, children before parents (the
/// foreign keys hold at every statement). Each ends with its `WHERE` clause, so
/// a dry run can count it instead.
pub(super) fn deletions(table: Table, ids: &[i64]) -> Vec<(String, Count)> {
    if ids.is_empty() {
        return Vec::new();
    }
    let ids = id_list(ids);
    match table {
        Table::Attempts => vec![(
            format!("DELETE FROM action_attempts WHERE id IN ({ids})"),
            Count::Attempts,
        )],
        Table::Quarantine => vec![(
            format!("DELETE FROM quarantine WHERE id IN ({ids})"),
            Count::Quarantine,
        )],
        Table::Events => {
            let actions = format!("SELECT id FROM actions WHERE event_id IN ({ids})");
            vec![
                (
                    format!("DELETE FROM action_attempts WHERE action_id IN ({actions})"),
                    Count::Attempts,
                ),
                (
                    format!("DELETE FROM dm_deliveries WHERE action_id IN ({actions})"),
                    Count::Deliveries,
                ),
                (
                    format!("DELETE FROM scheduled_tweets WHERE action_id IN ({actions})"),
                    Count::Tweets,
                ),
                (
                    format!("DELETE FROM actions WHERE event_id IN ({ids})"),
                    Count::Actions,
                ),
                (
                    format!("DELETE FROM rule_matches WHERE event_id IN ({ids})"),
                    Count::Matches,
                ),
                (
                    format!("DELETE FROM event_sightings WHERE event_id IN ({ids})"),
                    Count::Sightings,
                ),
                (
                    format!("DELETE FROM events WHERE id IN ({ids})"),
                    Count::Events,
                ),
            ]
        }
    }
}

/// `1, 2, 3`: ids read from the database, written into the statement (at most
/// `retention.batch_size` of them; integers cannot inject anything).
pub(super) fn id_list(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    ids.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_deleted_before_their_parents() {
        let order: Vec<String> = deletions(Table::Events, &[7, 9])
            .into_iter()
            .map(|(s, _)| s.split_whitespace().nth(2).unwrap().to_string())
            .collect();
        assert_eq!(
            order,
            [
                "action_attempts",
                "dm_deliveries",
                "scheduled_tweets",
                "actions",
                "rule_matches",
                "event_sightings",
                "events"
            ]
        );
        assert!(deletions(Table::Events, &[]).is_empty());
        assert_eq!(id_list(&[7, 9]), "7, 9");
    }
}
