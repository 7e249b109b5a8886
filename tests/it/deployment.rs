//! Deployment files that cannot run here (no Docker engine) are still checked:
//! every setting the compose file and the env example pass is a real config key,
//! and the example config and README document every key.

use starling::config::Settings;
use std::collections::{BTreeSet, HashMap};

pub(crate) fn root(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn read(path: &str) -> String {
    std::fs::read_to_string(root(path)).unwrap()
}

/// Every dotted key in the embedded defaults plus the optional (secret) keys.
pub(crate) fn all_keys() -> BTreeSet<String> {
    let defaults: toml::Table = read("src/config/default.toml").parse().unwrap();
    let mut keys = BTreeSet::new();
    flatten("", &toml::Value::Table(defaults), &mut keys);
    for optional in [
        "webhooks.scrapely.token",
        "webhooks.scrapely.signing_secret",
        "scrapely.api_key",
        "slack.webhook_url",
        "audit.database_url",
    ] {
        keys.insert(optional.to_string());
    }
    keys
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// Resolves `${VAR:-default}` the way compose does, using the default.
pub(crate) fn compose_value(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let expr = &rest[start + 2..end];
        out.push_str(expr.split(":-").nth(1).unwrap_or(""));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn compose_file_passes_only_real_config_keys() {
    let doc = marked_yaml::parse_yaml(0, read("docker-compose.yml")).unwrap();
    let services = doc.as_mapping().unwrap().get_mapping("services").unwrap();
    let postgres = services
        .get_mapping("postgres")
        .expect("a postgres service");
    assert!(
        postgres.get_mapping("healthcheck").is_some(),
        "postgres has a health check"
    );
    assert!(
        postgres.get_sequence("volumes").is_some(),
        "postgres keeps its data in a volume"
    );

    let starling = services
        .get_mapping("starling")
        .expect("a starling service");
    let depends = starling
        .get_mapping("depends_on")
        .unwrap()
        .get_mapping("postgres")
        .unwrap();
    assert_eq!(
        depends.get_scalar("condition").unwrap().as_str(),
        "service_healthy"
    );
    let volumes = starling.get_sequence("volumes").unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v.as_scalar().unwrap().as_str().starts_with("./rules:")),
        "rules/ is mounted"
    );
    let env_files = starling.get_sequence("env_file").unwrap();
    let env_file = env_files
        .get_mapping(0)
        .expect("the long syntax: path, required");
    assert_eq!(
        env_file.get_scalar("path").unwrap().as_str(),
        "starling.env"
    );
    assert_eq!(
        env_file.get_scalar("required").unwrap().as_str(),
        "false",
        "a fresh clone has no starling.env: compose must not fail on it"
    );

    let mut env = HashMap::new();
    for (key, value) in starling.get_mapping("environment").unwrap().iter() {
        env.insert(
            key.as_str().to_string(),
            compose_value(value.as_scalar().unwrap().as_str()),
        );
    }
    // The env file's example provides the secrets.
    for line in read("starling.env.example").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap();
        // Empty values too: they must mean unset (`tests/it/compose.rs`).
        env.insert(k.to_string(), v.to_string());
    }
    assert!(env.keys().all(|k| k.starts_with("STARLING__")), "{env:?}");
    let settings =
        Settings::load_with_env(None, Some(env)).expect("the compose settings are valid config");
    assert!(settings.database.url.expose().starts_with("postgres://"));
    assert!(
        settings.webhooks.scrapely.token.is_some(),
        "webhooks are authenticated"
    );
}

#[test]
fn example_config_loads_and_lists_every_key() {
    let path = root("starling.example.toml");
    Settings::load(Some(std::path::Path::new(&path))).expect("the example config is valid");
    let example = read("starling.example.toml");
    let mut section = String::new();
    let mut documented = BTreeSet::new();
    for line in example.lines() {
        let line = line.trim().trim_start_matches("# ");
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((key, _)) = line.split_once(" = ") {
            documented.insert(format!("{section}.{key}"));
        }
    }
    let missing: Vec<_> = all_keys().difference(&documented).cloned().collect();
    assert!(
        missing.is_empty(),
        "starling.example.toml lacks {missing:?}"
    );
}

#[test]
fn readme_documents_every_config_key() {
    let readme = read("README.md");
    let missing: Vec<_> = all_keys()
        .into_iter()
        .filter(|k| !readme.contains(&format!("`{k}`")))
        .collect();
    assert!(missing.is_empty(), "README.md lacks {missing:?}");
}

#[test]
fn the_readme_rule_example_loads_and_its_tests_pass() {
    let readme = read("README.md");
    let start = readme.find("## Rules").unwrap();
    let block = &readme[start..];
    let yaml_start = block.find("```yaml\n").unwrap() + "```yaml\n".len();
    let yaml = &block[yaml_start..yaml_start + block[yaml_start..].find("```").unwrap()];
    let set = starling::rules::load::load_sources(&[("README.md".into(), yaml.into())])
        .expect("the README example is valid");
    let results = starling::rules::testing::run_tests(&set);
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r.problems.is_empty()), "{results:?}");
}

/// The user of a `postgres://user:password@host/db` URL.
fn url_user(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    let userinfo = rest.split_once('@').expect("the URL names its user").0;
    userinfo.split(':').next().unwrap()
}

/// `environment:` of a compose service, values as written (`${…}` unresolved).
fn service_env(
    services: &marked_yaml::types::MarkedMappingNode,
    name: &str,
) -> HashMap<String, String> {
    services
        .get_mapping(name)
        .unwrap()
        .get_mapping("environment")
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.as_scalar().unwrap().as_str().to_string(),
            )
        })
        .collect()
}

/// Starling runs as the owner role and audit as the reader; the superuser of the
/// postgres image is neither, and the init script mounted into it makes both
/// roles with the README snippet's statements and the passwords Starling uses.
#[test]
fn compose_runs_starling_as_the_owner_role_and_audit_as_the_reader() {
    let doc = marked_yaml::parse_yaml(0, read("docker-compose.yml")).unwrap();
    let services = doc.as_mapping().unwrap().get_mapping("services").unwrap();
    let postgres = service_env(services, "postgres");
    let starling = service_env(services, "starling");

    let main = &starling["STARLING__DATABASE__URL"];
    let audit = &starling["STARLING__AUDIT__DATABASE_URL"];
    assert_eq!(url_user(main), "starling");
    assert_eq!(url_user(audit), "starling_audit");
    assert_ne!(
        postgres["POSTGRES_USER"], "starling",
        "the superuser is not Starling's role"
    );
    assert_ne!(postgres["POSTGRES_USER"], "starling_audit");
    assert!(main.ends_with("/starling") && audit.ends_with("/starling"));
    assert_eq!(postgres["POSTGRES_DB"], "starling");
    // The init script sets the passwords the URLs carry.
    assert!(
        main.contains(&format!(":{}@", postgres["STARLING_DB_PASSWORD"])),
        "{main}"
    );
    assert!(
        audit.contains(&format!(":{}@", postgres["STARLING_AUDIT_DB_PASSWORD"])),
        "{audit}"
    );

    let volumes: Vec<String> = services
        .get_mapping("postgres")
        .unwrap()
        .get_sequence("volumes")
        .unwrap()
        .iter()
        .map(|v| v.as_scalar().unwrap().as_str().to_string())
        .collect();
    let init = volumes
        .iter()
        .find_map(|v| v.strip_suffix(":/docker-entrypoint-initdb.d:ro"))
        .expect("an init directory is mounted into the postgres image");
    let script = read(&format!(
        "{}/10-starling-roles.sh",
        init.trim_start_matches("./")
    ));
    for line in starling::store::audit::ROLES_SNIPPET
        .lines()
        .filter(|l| !l.starts_with("--"))
    {
        let line = line
            .replace("'owner-password'", ":'owner_password'")
            .replace("'reader-password'", ":'reader_password'");
        assert!(script.contains(&line), "the init script lacks `{line}`");
    }
    for (variable, psql) in [
        ("STARLING_DB_PASSWORD", "owner_password"),
        ("STARLING_AUDIT_DB_PASSWORD", "reader_password"),
    ] {
        assert!(
            script.contains(&format!("--set {psql}=\"${variable}\"")),
            "{variable}"
        );
    }
    assert!(
        read("README.md").contains(starling::store::audit::ROLES_SNIPPET),
        "the README shows the roles snippet as audit prints it"
    );
}
