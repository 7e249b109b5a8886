//! Rules: YAML files that say which events to react to and which actions to fire.
//!
//! - [`load`] reads a directory of rule files into a [`RuleSet`], reporting every
//!   problem with file, line and column ([`error`]);
//! - [`template`] is the Jinja environment (conditions and parameter templates);
//! - [`matcher`] indexes rules so an event only evaluates the rules that can match;
//! - [`reload`] watches the directory and swaps the set atomically;
//! - [`select`] decides which candidates fire: `unless_keywords:` and exclusive `group:`s;
//! - [`testing`] runs `tests:` blocks and explains near misses (`starling rules test`).
//!
//! Matching runs inside the transaction that stores an event (see
//! `store::writer`), and every match is recorded in `rule_matches`.

pub mod context;
pub mod error;
pub mod json_view;
pub mod load;
pub mod matcher;
pub mod models;
pub mod reload;
pub mod select;
pub mod template;
pub mod testing;

use crate::catalog::ParamKind;
pub use context::{EventContext, EventMeta};
use error::Pos;
use minijinja::Environment;
use serde_json::Value;
use std::time::Duration;

/// A dotted path into the rule context, e.g. `data.receiver.screen_name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<String>);

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// `match: {path: [values…]}`: the field must equal one of the values.
#[derive(Debug, Clone)]
pub struct FieldMatch {
    pub path: FieldPath,
    /// Normalized with [`matcher::normalized`] (strings lowercased).
    pub values: Vec<String>,
}

/// `intent: [interested, question]` and `min_confidence: 0.7`.
#[derive(Debug, Clone)]
pub struct IntentMatch {
    pub labels: Vec<crate::intent::IntentLabel>,
    pub min_confidence: f32,
}

impl IntentMatch {
    /// Why the event's intent does not fit, or `None` when it does.
    pub fn misfit(&self, intent: Option<&crate::intent::Intent>) -> Option<String> {
        let labels: Vec<&str> = self.labels.iter().map(|l| l.as_str()).collect();
        match intent {
            None => Some("intent: the event has no text to classify".into()),
            Some(i) if !self.labels.contains(&i.label) => Some(format!(
                "intent: the text reads as `{}` ({:.2}: {}), not one of {labels:?}",
                i.label,
                i.confidence,
                i.evidence.join("; ")
            )),
            Some(i) if i.confidence < self.min_confidence => Some(format!(
                "intent: `{}` at {:.2}, under min_confidence {:.2}",
                i.label, i.confidence, self.min_confidence
            )),
            Some(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cooldown {
    /// Template rendering the cooldown key.
    pub key: String,
    pub window: Duration,
}

/// An action parameter: a template (every string), a literal, or a nested structure.
#[derive(Debug, Clone)]
pub enum Param {
    Template { name: String, kind: ParamKind },
    Literal(Value),
    Map(Vec<(String, Param)>),
    List(Vec<Param>),
}

#[derive(Debug, Clone)]
pub struct ActionTemplate {
    pub action: crate::catalog::ActionKind,
    pub params: Vec<(String, Param)>,
    pub delay: Option<Duration>,
    /// Overrides `actions.retry.max_attempts` for this action.
    pub max_attempts: Option<u32>,
    /// Credentials written literally in this action's parameters: masked in
    /// the rendered parameters (`crate::secret::marker`).
    pub literals: Vec<crate::secret::Secret>,
}

/// One `tests:` entry of a rule.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    pub event: Value,
    pub expect_match: bool,
    /// Expected (action name, subset of rendered parameters), in order.
    pub expect_actions: Vec<(Option<String>, Value)>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub on: Vec<String>,
    pub keywords: Vec<String>,
    /// `unless_keywords:` (or `not_keywords:`): any of these, as a whole word,
    /// and the rule does not match.
    pub unless_keywords: Vec<String>,
    /// `intent:` with `min_confidence:`: the event's text must read as one of
    /// these labels (`crate::intent`), at least this sure.
    pub intent: Option<IntentMatch>,
    pub matches: Vec<FieldMatch>,
    /// Template name of the `when:` condition, and its source text.
    pub when: Option<(String, String)>,
    pub cooldown: Option<Cooldown>,
    /// `group:`: at most one rule of a group fires per event — the first, by
    /// `priority:` (higher first), then file and position order.
    pub group: Option<String>,
    pub priority: i64,
    pub actions: Vec<ActionTemplate>,
    pub tests: Vec<RuleTest>,
    /// SHA-256 of the rule's text: which version of the rule fired.
    pub hash: String,
    pub file: String,
    pub pos: Pos,
}

/// An action with its parameters rendered for one event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RenderedAction {
    pub action: crate::catalog::ActionKind,
    pub params: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// What a candidate rule did with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Matched {
        actions: Vec<RenderedAction>,
        cooldown_key: Option<String>,
    },
    /// Evaluation failed (e.g. an undefined field); recorded, never fatal.
    Failed(String),
}

#[derive(Debug)]
pub struct RuleMatch<'a> {
    pub rule: &'a Rule,
    pub outcome: Outcome,
}

/// A rule's verdict on one event, owned so it can travel to the writer, which
/// records it (and claims its cooldown) in the transaction that stores the event.
#[derive(Debug, Clone)]
pub struct Decision {
    pub rule: String,
    pub rule_hash: String,
    pub decided_at: time::OffsetDateTime,
    /// Rendered actions (none when evaluation failed); stored as a JSON array.
    pub actions: Vec<RenderedAction>,
    /// Why evaluation failed.
    pub error: Option<String>,
    /// The rendered key and window of the rule's cooldown, to claim before firing.
    pub cooldown: Option<(String, Duration)>,
}

/// A loaded, checked set of rules with its index. Immutable; reloads build a new one.
pub struct RuleSet {
    pub rules: Vec<Rule>,
    env: Environment<'static>,
    index: matcher::Index,
    /// SHA-256 over every rule's hash: identifies the loaded set.
    pub version: String,
    /// Literal credentials of the rule files, by marker id: what a
    /// `«literal:ID»` in a stored action resolves to while these rules are loaded.
    pub(crate) literals: std::collections::HashMap<String, crate::secret::Secret>,
    /// What `rules check` warns about (literal credentials), file:line:column.
    pub warnings: Vec<error::RuleError>,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self::new(Vec::new(), template::environment())
    }
}

impl RuleSet {
    pub(crate) fn new(rules: Vec<Rule>, env: Environment<'static>) -> Self {
        use sha2::{Digest, Sha256};
        let index = matcher::Index::build(&rules);
        let mut hasher = Sha256::new();
        for rule in &rules {
            hasher.update(rule.hash.as_bytes());
        }
        let version = hex::encode(hasher.finalize())[..12].to_string();
        Self {
            rules,
            env,
            index,
            version,
            literals: Default::default(),
            warnings: Vec::new(),
        }
    }

    /// The literal credential with marker id `id`, if these rules hold it.
    pub fn literal(&self, id: &str) -> Option<crate::secret::Secret> {
        self.literals.get(id).cloned()
    }

    /// Whether any enabled rule listens to `kind` (skip building a context otherwise).
    pub fn handles(&self, kind: &str) -> bool {
        self.index.handles(kind)
    }

    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The decisions of every rule that fires (or fails) on `event`.
    pub fn decide(&self, event: &crate::event::NewEvent, id: i64) -> Vec<Decision> {
        if !self.handles(&event.kind) {
            return Vec::new();
        }
        self.decide_on(&EventContext::of(event, Some(id)), &event.dedupe_key)
    }

    /// The decisions of every rule that fires (or fails) on the event of `ctx`
    /// (`key`, its dedupe key, names it in the log): a stored event on replay.
    pub fn decide_on(&self, ctx: &EventContext, key: &str) -> Vec<Decision> {
        if !self.handles(&ctx.kind) {
            return Vec::new();
        }
        let decided_at = time::OffsetDateTime::now_utc();
        self.evaluate(ctx)
            .into_iter()
            .map(|m| {
                let base = Decision {
                    rule: m.rule.name.clone(),
                    rule_hash: m.rule.hash.clone(),
                    decided_at,
                    actions: Vec::new(),
                    error: None,
                    cooldown: None,
                };
                match m.outcome {
                    Outcome::Failed(error) => {
                        tracing::warn!(rule = %m.rule.name, event = %key, %error, "Rule evaluation failed");
                        Decision { error: Some(error), ..base }
                    }
                    Outcome::Matched { actions, cooldown_key } => Decision {
                        actions,
                        cooldown: m.rule.cooldown.as_ref().zip(cooldown_key).map(|(c, key)| (key, c.window)),
                        ..base
                    },
                }
            })
            .collect()
    }

    pub(crate) fn condition_holds(&self, rule: &Rule, ctx: &EventContext) -> Result<bool, String> {
        let Some((name, _)) = &rule.when else {
            return Ok(true);
        };
        let rendered = self
            .render_template(name, ctx)
            .map_err(|e| format!("when: {e}"))?;
        Ok(rendered == "true")
    }

    fn render_template(&self, name: &str, ctx: &EventContext) -> Result<String, String> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| template::describe(&e))?;
        template
            .render(&ctx.jinja)
            .map_err(|e| template::explain(&e, &template, &ctx.json))
    }

    /// Renders every action's parameters (and the cooldown key) for this event.
    pub fn render(&self, rule: &Rule, ctx: &EventContext) -> Result<Outcome, String> {
        let mut actions = Vec::with_capacity(rule.actions.len());
        for (i, action) in rule.actions.iter().enumerate() {
            let mut params = serde_json::Map::new();
            for (name, param) in &action.params {
                let value = self
                    .render_param(param, ctx)
                    .map_err(|e| format!("do[{i}].with.{name}: {e}"))?;
                params.insert(name.clone(), value);
            }
            // The defaults name Scrapely's fields (a tweet's `conversation_id` is its
            // thread, not a DM conversation); a parameter's stand-in (`to`) wins.
            let defaults = crate::catalog::spec(action.action.as_str())
                .filter(|_| ctx.kind.starts_with("scrapely."));
            if let Some(spec) = defaults {
                for p in spec.params {
                    let given = |name: &str| params.contains_key(name);
                    if let (false, false, Some(path)) =
                        (p.or.is_some_and(given), given(p.name), p.default_from_event)
                    {
                        let segments: Vec<&str> = path.split('.').collect();
                        if let Some(v) = matcher::lookup(&ctx.json, &segments) {
                            params.insert(p.name.to_string(), v.clone());
                        }
                    }
                }
            }
            let mut params = Value::Object(params);
            if !action.literals.is_empty() {
                crate::secret::marker::mask_literals_in(&mut params, &action.literals);
            }
            actions.push(RenderedAction {
                action: action.action,
                params,
                delay_secs: action.delay.map(|d| d.as_secs()),
                max_attempts: action.max_attempts,
            });
        }
        let cooldown_key = match &rule.cooldown {
            Some(c) => Some(
                self.render_template(&c.key, ctx)
                    .map_err(|e| format!("cooldown.key: {e}"))?,
            ),
            None => None,
        };
        Ok(Outcome::Matched {
            actions,
            cooldown_key,
        })
    }

    fn render_param(&self, param: &Param, ctx: &EventContext) -> Result<Value, String> {
        Ok(match param {
            Param::Literal(v) => v.clone(),
            Param::Template { name, kind } => coerce(self.render_template(name, ctx)?, *kind)?,
            Param::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, p)| Ok((k.clone(), self.render_param(p, ctx)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Param::List(items) => Value::Array(
                items
                    .iter()
                    .map(|p| self.render_param(p, ctx))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// A rendered template is text; a parameter declared as a number or boolean is parsed.
fn coerce(text: String, kind: ParamKind) -> Result<Value, String> {
    match kind {
        ParamKind::Number => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            .map(|v| match v.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Value::from(f as i64),
                _ => v,
            })
            .ok_or_else(|| format!("rendered `{text}`, expected a number")),
        ParamKind::Bool => match text.trim() {
            "true" | "True" => Ok(Value::Bool(true)),
            "false" | "False" => Ok(Value::Bool(false)),
            other => Err(format!("rendered `{other}`, expected true or false")),
        },
        _ => Ok(Value::String(text)),
    }
}
