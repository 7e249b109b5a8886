//! How a configuration value is read, alike for every key: an empty value means
//! unset (the default applies), a closed set is one of its names (and a wrong
//! name lists them), a listen address is `HOST:PORT`. Messages name what was
//! expected in the user's words, never a Rust type.

use serde::{Deserialize, Deserializer, de::Error};
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};

/// One of `names`, e.g. `format = "json"`; anything else says which names exist.
pub(super) fn one_of<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    names: &[(&str, T)],
) -> Result<T, D::Error> {
    let given = String::deserialize(d)?;
    names
        .iter()
        .find(|(name, _)| *name == given)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let listed: Vec<String> = names.iter().map(|(n, _)| format!("`{n}`")).collect();
            D::Error::custom(format!(
                "expected one of {}, got `{given}`",
                listed.join(", ")
            ))
        })
}

/// `HOST:PORT`: an IP address (`0.0.0.0:8080`, `[::1]:8080`) or a host name
/// resolved once at start-up (`localhost:8080`), preferring IPv4 as most
/// users mean `localhost` to be 127.0.0.1.
pub(super) fn listen_address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let given = String::deserialize(d)?;
    parse_listen(&given).map_err(D::Error::custom)
}

pub(super) fn parse_listen(given: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = given.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let expected = "expected HOST:PORT, e.g. `127.0.0.1:8080`, `0.0.0.0:8080` or `localhost:8080`";
    let Some((host, port)) = given.rsplit_once(':') else {
        return Err(format!("{expected}, got `{given}` (no port)"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{expected}, got `{given}`"));
    }
    let found: Vec<SocketAddr> = given
        .to_socket_addrs()
        .map_err(|e| format!("{expected}; `{host}` did not resolve: {e}"))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| format!("{expected}; `{host}` has no address"))
}

/// The environment's `STARLING__…` variables (or `given`'s), empty ones left
/// out: `STARLING__SLACK__WEBHOOK_URL=` in an env file means "no Slack".
pub(super) fn environment(given: Option<HashMap<String, String>>) -> HashMap<String, String> {
    let all = given.unwrap_or_else(|| {
        std::env::vars()
            .filter(|(k, _)| k.starts_with("STARLING__"))
            .collect()
    });
    all.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

/// Removes every empty string of a configuration file (in tables and arrays of
/// tables alike), so `api_key = ""` is the same as leaving the line out.
pub(super) fn drop_empty(table: &mut toml::Table) {
    table.retain(|_, value| !matches!(value, toml::Value::String(s) if s.is_empty()));
    for (_, value) in table.iter_mut() {
        match value {
            toml::Value::Table(inner) => drop_empty(inner),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        drop_empty(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A message without the `config` crate's trailing "for key `…`", since the
/// error names the key already.
pub(super) fn without_key_suffix(message: String) -> String {
    match message.find(" for key `") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

/// A configuration file read as TOML, its empty values dropped.
pub(super) fn read_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    drop_empty(&mut table);
    toml::to_string(&table).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listen_address_is_host_and_port() {
        assert_eq!(
            parse_listen("0.0.0.0:9000").unwrap().to_string(),
            "0.0.0.0:9000"
        );
        assert_eq!(
            parse_listen("localhost:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        for bad in [
            "8080",
            "localhost",
            ":8080",
            "localhost:http",
            "nowhere:99999",
        ] {
            let err = parse_listen(bad).unwrap_err();
            assert!(err.contains("expected HOST:PORT"), "{bad}: {err}");
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn empty_strings_are_dropped_everywhere() {
        let mut table: toml::Table = "a = \"\"\nb = \"x\"\n[s]\nc = \"\"\n[[t]]\nd = \"\"\ne = 1\n"
            .parse()
            .unwrap();
        drop_empty(&mut table);
        let expected: toml::Table = "b = \"x\"\n[s]\n[[t]]\ne = 1\n".parse().unwrap();
        assert_eq!(table, expected);
    }

    fn load(pairs: &[(&str, &str)]) -> Result<crate::config::Settings, String> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::config::Settings::load_with_env(None, Some(env)).map_err(|e| e.to_string())
    }

    /// Each mistake stops start-up with a message naming the key and the expected form.
    #[test]
    fn every_mistake_names_its_key_and_the_expected_form() {
        for (key, value, expected) in [
            (
                "STARLING__LOG__FORMAT",
                "xml",
                "expected one of `text`, `json`, got `xml`",
            ),
            ("STARLING__SERVER__LISTEN", "8080", "expected HOST:PORT"),
            (
                "STARLING__SCRAPELY__BASE_URL",
                "ftp://x",
                "expected an http:// or https:// URL",
            ),
            (
                "STARLING__SCRAPELY__BASE_URL",
                "app.scrapely.co",
                "expected an http:// or https:// URL",
            ),
            (
                "STARLING__SLACK__WEBHOOK_URL",
                "hooks.slack.com/T0/SEKRET",
                "expected an http:// or https:// URL",
            ),
            ("STARLING__LOG__FILTER", "=[", "expected a tracing filter"),
        ] {
            let err = load(&[(key, value)]).unwrap_err();
            let dotted = key["STARLING__".len()..].to_lowercase().replace("__", ".");
            assert!(err.contains(&format!("`{dotted}`")), "{key}: {err}");
            assert!(err.contains(expected), "{key}: {err}");
            assert!(!err.contains("for key"), "{key}: {err}");
            assert!(!err.contains("SEKRET"), "{key}: {err}");
            assert!(
                !err.contains("LogFormat") && !err.contains("variant"),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn an_empty_value_is_unset_for_every_key_alike() {
        let defaults = load(&[]).unwrap();
        let emptied = load(&[
            ("STARLING__SLACK__WEBHOOK_URL", ""),
            ("STARLING__SCRAPELY__API_KEY", ""),
            ("STARLING__SCRAPELY__RATE_LIMIT", ""),
            ("STARLING__SERVER__LISTEN", ""),
            ("STARLING__LOG__FORMAT", ""),
        ])
        .unwrap();
        assert!(emptied.slack.webhook_url.is_none());
        assert!(emptied.scrapely.api_key.is_none());
        assert_eq!(emptied.scrapely.rate_limit, defaults.scrapely.rate_limit);
        assert_eq!(emptied.server.listen, defaults.server.listen);
        assert_eq!(emptied.log.format, defaults.log.format);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("starling.toml");
        std::fs::write(
            &file,
            "[slack]\nwebhook_url = \"\"\n[log]\nfilter = \"\"\n[scrapely]\napi_key = \"\"\n",
        )
        .unwrap();
        let from_file =
            crate::config::Settings::load_with_env(Some(&file), Some(HashMap::new())).unwrap();
        assert!(from_file.slack.webhook_url.is_none());
        assert!(from_file.scrapely.api_key.is_none());
        assert_eq!(from_file.log.filter, defaults.log.filter);
    }

    #[test]
    fn a_stream_kind_that_does_not_exist_lists_the_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("starling.toml");
        std::fs::write(&file, "[[streams]]\nname = \"a\"\nkind = \"twitter\"\n").unwrap();
        let err = crate::config::Settings::load_with_env(Some(&file), Some(HashMap::new()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("streams[0].kind"), "{err}");
        assert!(
            err.contains(
                "`scrapest`, `scrapest_sse`, `scrapest_filter`, `scrapebadger`, got `twitter`"
            ),
            "{err}"
        );
    }
}
