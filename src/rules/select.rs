//! Which candidate rules fire on an event: a rule whose `unless_keywords:`
//! appear in the text does not, and within a `group:` only the first rule (by
//! `priority:`, then file order) that matches or fails does — so a group of CRM
//! tagging rules gives each reply one tag by construction.

use super::{EventContext, Outcome, Rule, RuleMatch, RuleSet, matcher};
use serde_json::Value;

impl RuleSet {
    /// Rules that fire (or fail) on this event, in file order. Cooldowns are
    /// claimed by the caller, in SQL. Within a `group:`, the first rule that
    /// matches or fails (by [`RuleSet::precedence`]) takes the event: a failed
    /// rule still takes it, so an error never lets a lower rule set another tag.
    pub fn evaluate(&self, ctx: &EventContext) -> Vec<RuleMatch<'_>> {
        let mut candidates = self.index.candidates(&ctx.kind, &ctx.json);
        self.precedence(&mut candidates);
        let mut taken: Vec<&str> = Vec::new();
        let mut fired: Vec<(usize, RuleMatch<'_>)> = Vec::new();
        for i in candidates {
            let rule = &self.rules[i];
            if rule.group.as_deref().is_some_and(|g| taken.contains(&g))
                || unless_hits(rule, ctx).is_some()
                || rule
                    .intent
                    .as_ref()
                    .is_some_and(|m| m.misfit(ctx.intent.as_ref()).is_some())
            {
                continue;
            }
            let outcome = match self.condition_holds(rule, ctx) {
                Ok(false) => continue,
                Ok(true) => self.render(rule, ctx).unwrap_or_else(Outcome::Failed),
                Err(e) => Outcome::Failed(e),
            };
            if let Some(group) = &rule.group {
                taken.push(group);
            }
            fired.push((i, RuleMatch { rule, outcome }));
        }
        fired.sort_by_key(|(i, _)| *i);
        fired.into_iter().map(|(_, m)| m).collect()
    }

    /// Orders rule indices (ascending = file order) by `priority:`, higher first;
    /// ties keep file order.
    pub fn precedence(&self, indices: &mut [usize]) {
        indices.sort_by_key(|&i| std::cmp::Reverse(self.rules[i].priority));
    }
}

/// The first of the rule's `unless_keywords:` that the event's text holds.
pub fn unless_hits<'r>(rule: &'r Rule, ctx: &EventContext) -> Option<&'r str> {
    if rule.unless_keywords.is_empty() {
        return None;
    }
    let text = matcher::text_path(&ctx.kind)
        .and_then(|path| matcher::lookup(&ctx.json, path))
        .and_then(Value::as_str)?
        .to_lowercase();
    rule.unless_keywords
        .iter()
        .find(|w| matcher::contains_keyword(&text, &w.to_lowercase()))
        .map(String::as_str)
}

/// What a rule's `scrapely.update_crm` actions set the tag to (`None` inside:
/// a template, so any tag).
fn tags_set(rule: &Rule) -> Vec<Option<&Value>> {
    rule.actions
        .iter()
        .filter(|a| a.action == crate::catalog::ActionKind::UpdateCrm)
        .filter_map(|a| a.params.iter().find(|(name, _)| name == "tag"))
        .map(|(_, param)| match param {
            super::Param::Literal(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// Warnings for pairs of rules that can set different CRM tags on one event
/// (an event kind both listen to) without sharing a `group:` — the reply would
/// get whichever tag is written last.
pub fn tag_conflicts(rules: &[Rule]) -> Vec<super::error::RuleError> {
    let mut warnings = Vec::new();
    let tagging: Vec<(&Rule, Vec<Option<&Value>>)> = rules
        .iter()
        .filter(|r| r.enabled)
        .map(|r| (r, tags_set(r)))
        .filter(|(_, tags)| !tags.is_empty())
        .collect();
    for (i, (first, first_tags)) in tagging.iter().enumerate() {
        for (second, second_tags) in &tagging[i + 1..] {
            let grouped = first.group.is_some() && first.group == second.group;
            let shared = first.on.iter().find(|k| second.on.contains(k));
            let differ = first_tags.iter().any(|a| {
                second_tags
                    .iter()
                    .any(|b| a.is_none() || b.is_none() || a != b)
            });
            if let (false, Some(kind), true) = (grouped, shared, differ) {
                warnings.push(super::error::RuleError {
                    file: second.file.clone(),
                    pos: second.pos,
                    message: format!(
                        "warning: rules `{}` and `{}` can both set a CRM tag on one {kind} event, \
                         and the tags differ; put them in one `group:` (e.g. `group: crm-tag`) so \
                         at most one of them fires per event",
                        first.name, second.name
                    ),
                });
            }
        }
    }
    warnings
}
