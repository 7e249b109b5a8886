//! `[secrets]`: credentials rules name as `{{ secrets.NAME }}` (see
//! `crate::secret::marker`). Keys: any `secrets.NAME` (letters, digits, `_`);
//! environment: `STARLING__SECRETS__NAME`, which overrides the file's value.
//! Names are case-insensitive and kept lowercased: the `config` crate lowercases
//! environment variable names but keeps a file's spelling.

use super::{ConfigError, key_error};
use crate::secret::Secret;
use std::collections::HashMap;

/// `[secrets]` with lowercased names; two names differing only in case are an error.
pub(super) fn lowercase_names(
    secrets: HashMap<String, Secret>,
) -> Result<HashMap<String, Secret>, ConfigError> {
    let mut out: HashMap<String, (String, Secret)> = HashMap::with_capacity(secrets.len());
    for (name, value) in secrets {
        let lower = name.to_ascii_lowercase();
        if lower.is_empty()
            || lower.starts_with(|c: char| c.is_ascii_digit())
            || !lower.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(key_error(
                &format!("secrets.{name}"),
                "expected a name of letters, digits and `_` (not starting with a digit), usable as {{ secrets.NAME }}",
            ));
        }
        if value.expose().is_empty() {
            return Err(key_error(
                &format!("secrets.{name}"),
                "expected a non-empty value, or leave the key unset",
            ));
        }
        // The environment layer reaches us lowercased: `STARLING__SECRETS__HOOK`
        // (`hook`) overrides the file's `HOOK`. Two spellings in one file are a mistake.
        match out.get(&lower) {
            None => {
                out.insert(lower, (name, value));
            }
            Some((other, _)) if *other == lower => {}
            Some(_) if name == lower => {
                out.insert(lower, (name, value));
            }
            Some((other, _)) => {
                return Err(key_error(
                    &format!("secrets.{name}"),
                    &format!("given twice, also as `{other}` (names are case-insensitive)"),
                ));
            }
        }
    }
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn secrets_come_from_the_file_and_the_environment_by_case_insensitive_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(
            &file,
            "[secrets]\nSLACK_HOOK = \"https://file/x\"\nApi_Token = \"tok-file\"\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            env(&[("STARLING__SECRETS__SLACK_HOOK", "https://env/y")]),
        )
        .unwrap();
        assert_eq!(s.secrets["slack_hook"].expose(), "https://env/y");
        assert_eq!(s.secrets["api_token"].expose(), "tok-file");
        assert!(!format!("{s:?}").contains("tok-file"));
        let none = Settings::load_with_env(None, env(&[])).unwrap();
        assert!(none.secrets.is_empty());
        // An empty value is unset, as for every key: the rules naming it then
        // fail `rules check` with "no secret `hook`".
        let empty = Settings::load_with_env(None, env(&[("STARLING__SECRETS__HOOK", "")])).unwrap();
        assert!(!empty.secrets.contains_key("hook"));
    }
}
