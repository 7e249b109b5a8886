//! `do:` — actions and their parameters, checked against each action's declaration.

use super::yaml::{pos_of, scalar_json, scalar_pos};
use super::{Loader, Src};
use crate::catalog::{self, ParamKind};
use crate::rules::error::{Pos, did_you_mean};
use crate::rules::{ActionTemplate, Param};
use marked_yaml::Node;
use serde_json::Value;

const ACTION_KEYS: &[&str] = &["action", "with", "delay", "max_attempts"];

impl Loader {
    pub(super) fn actions(
        &mut self,
        src: Src,
        node: &Node,
        id: usize,
        scrapely_only: bool,
    ) -> Vec<ActionTemplate> {
        let Some(items) = node.as_sequence().filter(|s| !s.is_empty()) else {
            self.error(
                src,
                pos_of(node),
                "do: expected a non-empty list of actions, e.g. `- action: slack.post`",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(map) = item.as_mapping() else {
                self.error(
                    src,
                    pos_of(item),
                    "do: expected an action mapping {action: NAME, with: {…}, delay: 10m}",
                );
                continue;
            };
            self.check_keys(src, map, ACTION_KEYS, "an action");
            let Some(name) = map
                .get_node("action")
                .and_then(|n| self.scalar(src, n, "action"))
            else {
                if map.get_node("action").is_none() {
                    self.error(
                        src,
                        pos_of(item),
                        format!(
                            "missing `action`; expected one of: {}",
                            catalog::names().join(", ")
                        ),
                    );
                }
                continue;
            };
            let Some(spec) = catalog::spec(name.as_str()) else {
                let names = catalog::names();
                let hint = did_you_mean(name.as_str(), &names)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                self.error(
                    src,
                    scalar_pos(name),
                    format!(
                        "unknown action `{}`; {hint}expected one of: {}",
                        name.as_str(),
                        names.join(", ")
                    ),
                );
                continue;
            };
            let delay = map
                .get_node("delay")
                .and_then(|n| self.duration(src, n, "delay"));
            let max_attempts = map
                .get_node("max_attempts")
                .and_then(|n| self.max_attempts(src, n));
            let params = self.params(
                src,
                map.get_node("with"),
                spec,
                pos_of(item),
                &format!("{}#{id}/do{i}", src.file),
                scrapely_only,
            );
            out.push(ActionTemplate {
                action: spec.kind,
                params,
                delay,
                max_attempts,
                literals: self.take_action_literals(),
            });
        }
        out
    }

    fn max_attempts(&mut self, src: Src, node: &Node) -> Option<u32> {
        let parsed = node
            .as_scalar()
            .and_then(|s| s.as_str().parse::<u32>().ok())
            .filter(|n| *n >= 1);
        if parsed.is_none() {
            self.error(
                src,
                pos_of(node),
                "max_attempts: expected a whole number of attempts, at least 1",
            );
        }
        parsed
    }

    fn params(
        &mut self,
        src: Src,
        with: Option<&Node>,
        spec: &catalog::ActionSpec,
        at: Pos,
        prefix: &str,
        scrapely_only: bool,
    ) -> Vec<(String, Param)> {
        let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
        let map = match with {
            None => None,
            Some(node) => match node.as_mapping() {
                Some(m) => Some(m),
                None => {
                    self.error(
                        src,
                        pos_of(node),
                        format!(
                            "with: expected a mapping of parameters of {}: {}",
                            spec.name(),
                            names.join(", ")
                        ),
                    );
                    return Vec::new();
                }
            },
        };
        let mut out = Vec::new();
        if let Some(map) = map {
            for (key, value) in map.iter() {
                let Some(p) = spec.params.iter().find(|p| p.name == key.as_str()) else {
                    let hint = did_you_mean(key.as_str(), &names)
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    self.error(
                        src,
                        scalar_pos(key),
                        format!(
                            "unknown parameter `{}` of {}; {hint}expected one of: {}",
                            key.as_str(),
                            spec.name(),
                            names.join(", ")
                        ),
                    );
                    continue;
                };
                if let Node::Scalar(scalar) = value
                    && scalar_json(scalar).is_null()
                    && p.kind != ParamKind::Any
                {
                    if p.nullable {
                        out.push((p.name.to_string(), Param::Literal(Value::Null)));
                    } else {
                        let nullable: Vec<&str> = spec
                            .params
                            .iter()
                            .filter(|p| p.nullable)
                            .map(|p| p.name)
                            .collect();
                        let which = match nullable.is_empty() {
                            true => format!("no parameter of {} is", spec.name()),
                            false => format!("only {} of {} are", nullable.join(", "), spec.name()),
                        };
                        self.error(
                            src,
                            scalar_pos(scalar),
                            format!(
                                "with.{}: null is not a value for `{}`; {which} nullable (quote it, \"null\", to mean the text)",
                                p.name, p.name
                            ),
                        );
                    }
                    continue;
                }
                self.note_literal_credentials(src, p.name, value);
                if let Some(param) = self.param(
                    src,
                    value,
                    p.kind,
                    &format!("{prefix}/{}", p.name),
                    &format!("with.{}", p.name),
                ) {
                    out.push((p.name.to_string(), param));
                }
            }
        }
        let given = |name: &str| {
            out.iter().any(|(n, _)| n == name) || map.is_some_and(|m| m.get_node(name).is_some())
        };
        let missing: Vec<&catalog::ParamSpec> = spec
            .params
            .iter()
            .filter(|p| p.required && (p.default_from_event.is_none() || !scrapely_only))
            .filter(|p| !p.or.is_some_and(given))
            .collect();
        for p in missing {
            if !given(p.name) {
                let hint = match (p.default_from_event, p.or) {
                    (Some(path), _) => format!(
                        " (taken from `{path}` of Scrapely events only; give it for the other events in `on`)"
                    ),
                    (None, Some(other)) => format!(" (or `{other}`)"),
                    (None, None) => String::new(),
                };
                self.error(
                    src,
                    at,
                    format!(
                        "missing required parameter `{}` of {}{hint}",
                        p.name,
                        spec.name()
                    ),
                );
            }
        }
        for p in spec.params.iter().filter(|p| given(p.name)) {
            if let Some(other) = p.excludes.filter(|o| given(o)) {
                let message = format!(
                    "give `{}` or `{other}` of {}, not both",
                    p.name,
                    spec.name()
                );
                self.error(src, at, message);
            }
            if let Some(other) = p.needs.filter(|o| !given(o)) {
                let message = format!("`{}` of {} needs `{other}` too", p.name, spec.name());
                self.error(src, at, message);
            }
        }
        out
    }

    fn param(
        &mut self,
        src: Src,
        node: &Node,
        kind: ParamKind,
        name: &str,
        what: &str,
    ) -> Option<Param> {
        match node {
            Node::Scalar(s) => {
                let literal = scalar_json(s);
                let is_template = ["{{", "{%", "{#"].iter().any(|t| s.as_str().contains(t));
                match (kind, &literal) {
                    (ParamKind::Number, Value::Number(_)) | (ParamKind::Bool, Value::Bool(_)) => {
                        Some(Param::Literal(literal))
                    }
                    (ParamKind::Number | ParamKind::Bool, _) if !is_template => {
                        let expected = if kind == ParamKind::Number {
                            "a number"
                        } else {
                            "true or false"
                        };
                        self.error(
                            src,
                            scalar_pos(s),
                            format!("{what}: `{}` is not {expected}", s.as_str()),
                        );
                        None
                    }
                    (ParamKind::Object | ParamKind::List, _) if !is_template => {
                        self.error(
                            src,
                            scalar_pos(s),
                            format!(
                                "{what}: expected a {}",
                                if kind == ParamKind::Object {
                                    "mapping"
                                } else {
                                    "list"
                                }
                            ),
                        );
                        None
                    }
                    // Text without Jinja syntax is used as is: nothing to render per event.
                    (ParamKind::Text, _) if !is_template => {
                        Some(Param::Literal(Value::String(s.as_str().to_string())))
                    }
                    (ParamKind::Any, _) if !is_template => Some(Param::Literal(literal)),
                    _ => self
                        .compile(src, s, name.to_string(), s.as_str().to_string(), 0, what)
                        .map(|name| Param::Template { name, kind }),
                }
            }
            Node::Mapping(map) if matches!(kind, ParamKind::Object | ParamKind::Any) => {
                let entries = map
                    .iter()
                    .filter_map(|(k, v)| {
                        let param = self.param(
                            src,
                            v,
                            ParamKind::Any,
                            &format!("{name}.{}", k.as_str()),
                            &format!("{what}.{}", k.as_str()),
                        )?;
                        Some((k.as_str().to_string(), param))
                    })
                    .collect();
                Some(Param::Map(entries))
            }
            Node::Sequence(items) if matches!(kind, ParamKind::List | ParamKind::Any) => {
                Some(Param::List(
                    items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| {
                            self.param(
                                src,
                                v,
                                ParamKind::Any,
                                &format!("{name}[{i}]"),
                                &format!("{what}[{i}]"),
                            )
                        })
                        .collect(),
                ))
            }
            _ => {
                self.error(
                    src,
                    pos_of(node),
                    format!("{what}: expected a single value"),
                );
                None
            }
        }
    }
}
