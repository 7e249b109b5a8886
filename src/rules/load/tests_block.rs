//! `tests:` — sample events and expected outcomes carried by a rule.

use super::yaml::{node_json, pos_of, scalar_pos};
use super::{Loader, Src};
use crate::rules::RuleTest;
use marked_yaml::Node;
use serde_json::Value;

const TEST_KEYS: &[&str] = &["name", "event", "expect"];
const EXPECT_KEYS: &[&str] = &["match", "actions"];
const EXPECTED_ACTION_KEYS: &[&str] = &["action", "with"];

impl Loader {
    pub(super) fn tests(&mut self, src: Src, node: &Node) -> Vec<RuleTest> {
        let Some(items) = node.as_sequence() else {
            self.error(
                src,
                pos_of(node),
                "tests: expected a list of {name, event, expect}",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let Some(map) = item.as_mapping() else {
                self.error(
                    src,
                    pos_of(item),
                    "tests: expected a mapping {name, event, expect}",
                );
                continue;
            };
            self.check_keys(src, map, TEST_KEYS, "a test");
            let name = map
                .get_node("name")
                .and_then(|n| self.scalar(src, n, "tests.name"))
                .map(|s| s.as_str().to_string());
            let Some(event) = map.get_node("event") else {
                self.error(src, pos_of(item), "tests: missing `event`; expected a sample event (a Scrapely webhook body, or {kind, data})");
                continue;
            };
            let Some(expect) = map.get_node("expect").and_then(Node::as_mapping) else {
                self.error(
                    src,
                    pos_of(item),
                    "tests: missing `expect`; expected {match: true|false, actions: [...]}",
                );
                continue;
            };
            self.check_keys(src, expect, EXPECT_KEYS, "expect");
            let expect_match = match expect
                .get_scalar("match")
                .map(|s| (s.as_bool(), scalar_pos(s)))
            {
                Some((Some(b), _)) => b,
                Some((None, pos)) => {
                    self.error(src, pos, "expect.match: expected true or false");
                    continue;
                }
                None => {
                    self.error(
                        src,
                        pos_of(item),
                        "expect: missing `match`; expected true or false",
                    );
                    continue;
                }
            };
            let mut expect_actions = Vec::new();
            if let Some(actions) = expect.get_node("actions") {
                for a in actions
                    .as_sequence()
                    .map(|s| s.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if let Some(m) = a.as_mapping() {
                        self.check_keys(src, m, EXPECTED_ACTION_KEYS, "an expected action");
                        let action = m.get_scalar("action").map(|s| s.as_str().to_string());
                        let with = m
                            .get_node("with")
                            .map(node_json)
                            .unwrap_or(Value::Object(Default::default()));
                        expect_actions.push((action, with));
                    }
                }
            }
            out.push(RuleTest {
                name: name.unwrap_or_else(|| format!("test at line {}", pos_of(item).line)),
                event: node_json(event),
                expect_match,
                expect_actions,
                pos: pos_of(item),
            });
        }
        out
    }
}
