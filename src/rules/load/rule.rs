//! One rule: its mapping's keys, its name (unique across the set), and each of
//! its parts read in turn into a [`Rule`], hashed by its text.

use super::yaml::scalar_pos;
use super::{Loader, Src};
use crate::rules::Rule;
use crate::rules::error::{Pos, RuleError};
use crate::rules::template::{CONDITION_PREFIX, CONDITION_SUFFIX};
use marked_yaml::types::MarkedMappingNode;
use sha2::{Digest, Sha256};

const RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "on",
    "keywords",
    "unless_keywords",
    "not_keywords",
    "intent",
    "min_confidence",
    "match",
    "when",
    "cooldown",
    "group",
    "priority",
    "do",
    "tests",
];

impl Loader {
    pub(super) fn rule(&mut self, src: Src, map: &MarkedMappingNode, at: Pos, text: &str) {
        self.check_keys(src, map, RULE_KEYS, "a rule");
        let id = self.rules.len();
        let name = match map.get_node("name") {
            Some(node) => self
                .scalar(src, node, "name")
                .map(|s| (s.as_str().trim().to_string(), scalar_pos(s))),
            None => {
                self.error(
                    src,
                    at,
                    "missing `name`; expected a unique name for the rule",
                );
                None
            }
        };
        let mut ok = true;
        if let Some((name, pos)) = &name {
            if name.is_empty() {
                self.error(src, *pos, "name: expected a non-empty name");
            } else if let Some((file, first)) = self.names.get(name).cloned() {
                self.error(
                    src,
                    *pos,
                    format!(
                        "duplicate rule name `{name}`; also defined at {file}:{}:{}",
                        first.line, first.column
                    ),
                );
                self.errors.push(RuleError {
                    file,
                    pos: first,
                    message: format!(
                        "duplicate rule name `{name}`; also defined at {}:{}:{}",
                        src.file, pos.line, pos.column
                    ),
                });
                ok = false;
            } else {
                self.names
                    .insert(name.clone(), (src.file.to_string(), *pos));
            }
        }
        let name_or = name.as_ref().map(|(n, _)| n.clone()).unwrap_or_default();

        let on = self.on(src, map, at);
        self.current_on = on.clone();
        let description = map
            .get_node("description")
            .and_then(|n| self.scalar(src, n, "description"))
            .map(|s| s.as_str().to_string());
        let enabled = match map.get_node("enabled") {
            None => true,
            Some(node) => match self
                .scalar(src, node, "enabled")
                .map(|s| (s.as_bool(), scalar_pos(s)))
            {
                Some((Some(b), _)) => b,
                Some((None, pos)) => {
                    self.error(src, pos, "enabled: expected true or false");
                    true
                }
                None => true,
            },
        };
        let keywords = self.keywords(src, map, &on, "keywords");
        let unless_keywords = self.unless_keywords(src, map, &on);
        let intent = self.intent(src, map, &on);
        let (group, priority) = self.group(src, map);
        let matches = self.field_matches(src, map);
        let when = map.get_node("when").and_then(|node| {
            let scalar = self.scalar(src, node, "when")?;
            let name = format!("{}#{id}/when", src.file);
            let body = format!("{CONDITION_PREFIX}{}{CONDITION_SUFFIX}", scalar.as_str());
            self.compile(
                src,
                scalar,
                name.clone(),
                body,
                CONDITION_PREFIX.len(),
                "when",
            )
            .map(|n| (n, scalar.as_str().to_string()))
        });
        let cooldown = map
            .get_node("cooldown")
            .and_then(|node| self.cooldown(src, node, id));
        let actions = match map.get_node("do") {
            Some(node) => {
                // Parameters taken from a Scrapely event must be given on other events.
                let scrapely_only = !on.is_empty() && on.iter().all(|k| k.starts_with("scrapely."));
                self.actions(src, node, id, scrapely_only)
            }
            None => {
                self.error(
                    src,
                    at,
                    "missing `do`; expected a list of actions, e.g. `- action: slack.post`",
                );
                Vec::new()
            }
        };
        let tests = map
            .get_node("tests")
            .map(|node| self.tests(src, node))
            .unwrap_or_default();
        if !ok || name.is_none() {
            return;
        }
        self.rules.push(Rule {
            name: name_or,
            description,
            enabled,
            on,
            keywords,
            unless_keywords,
            intent,
            matches,
            when,
            cooldown,
            group,
            priority,
            actions,
            tests,
            hash: hex::encode(Sha256::digest(text.as_bytes())),
            file: src.file.to_string(),
            pos: at,
        });
    }
}
