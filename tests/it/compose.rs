//! The compose path, checked without a Docker engine: the env file is optional
//! and its example names only real keys and leaves Slack and Scrapely unset;
//! `scripts/compose-env.sh` (the one documented step) makes tokens a public
//! listener accepts; Starling is published on loopback unless told otherwise;
//! the `tls` profile runs Caddy for the domain in the environment; the image
//! build caches dependencies and never copies local state.

use crate::deployment::{all_keys, compose_value, read, root};
use marked_yaml::types::MarkedMappingNode;
use starling::config::Settings;
use std::collections::HashMap;
use std::net::SocketAddr;

fn compose() -> marked_yaml::Node {
    marked_yaml::parse_yaml(0, read("docker-compose.yml")).unwrap()
}

fn service<'a>(doc: &'a marked_yaml::Node, name: &str) -> &'a MarkedMappingNode {
    doc.as_mapping()
        .unwrap()
        .get_mapping("services")
        .unwrap()
        .get_mapping(name)
        .unwrap_or_else(|| panic!("a {name} service"))
}

fn strings(node: &MarkedMappingNode, key: &str) -> Vec<String> {
    node.get_sequence(key)
        .map(|seq| {
            seq.iter()
                .map(|v| v.as_scalar().unwrap().as_str().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `STARLING__A__B` → `a.b`.
fn dotted(var: &str) -> String {
    var.strip_prefix("STARLING__")
        .unwrap_or_else(|| panic!("{var} is not a Starling setting"))
        .to_lowercase()
        .replace("__", ".")
}

/// `KEY=VALUE` lines of an env file; `commented` also takes `# KEY=VALUE`.
fn env_lines(text: &str, commented: bool) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter_map(|line| match line.strip_prefix('#') {
            Some(rest) if commented => Some(rest.trim()),
            Some(_) => None,
            None => Some(line),
        })
        .filter(|line| line.starts_with("STARLING__"))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the starling container's environment is: the compose `environment:`
/// (defaults of `${…}` taken) under `env_file`'s lines.
fn container_env(env_file: &str) -> HashMap<String, String> {
    let doc = compose();
    let mut env: HashMap<String, String> = env_lines(env_file, false).into_iter().collect();
    for (k, v) in service(&doc, "starling")
        .get_mapping("environment")
        .unwrap()
        .iter()
    {
        env.insert(
            k.as_str().to_string(),
            compose_value(v.as_scalar().unwrap().as_str()),
        );
    }
    env
}

fn public() -> SocketAddr {
    let env = container_env("");
    env["STARLING__SERVER__LISTEN"].parse().unwrap()
}

#[test]
fn the_env_example_names_only_real_keys_and_leaves_slack_and_scrapely_unset() {
    let example = read("starling.env.example");
    // A key with a default, or an optional one the README's table documents.
    let (keys, readme) = (all_keys(), read("README.md"));
    for (var, _) in env_lines(&example, true) {
        let key = dotted(&var);
        assert!(
            keys.contains(&key)
                || readme.contains(&format!("| `{key}`"))
                || readme.contains(&format!(", `{key}`"))
                || key.starts_with("secrets."),
            "{var} in starling.env.example is not a config key"
        );
    }
    let settings = Settings::load_with_env(None, Some(container_env(&example))).unwrap();
    assert!(settings.slack.webhook_url.is_none(), "Slack stays unset");
    assert!(settings.scrapely.api_key.is_none());
    // The placeholders are refused on the container's public listener, so the
    // documented step is needed and a copied example never guards a port.
    let err = starling::http::exposure::check_listener(&settings, public()).unwrap_err();
    assert!(err.to_string().contains("placeholder"), "{err}");
}

#[test]
fn compose_env_script_writes_tokens_a_public_listener_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("starling.env");
    let run = || {
        std::process::Command::new("sh")
            .arg(root("scripts/compose-env.sh"))
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{first:?}");
    let written = std::fs::read_to_string(&out).unwrap();
    let tokens: Vec<String> = env_lines(&written, false)
        .into_iter()
        .filter(|(k, _)| k.ends_with("_TOKEN"))
        .map(|(_, v)| v)
        .collect();
    // The webhook's, the ops endpoints' and the console's login.
    assert_eq!(tokens.len(), 3, "{written}");
    let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 3, "each token its own");
    let printed = String::from_utf8_lossy(&first.stdout);
    for token in &tokens {
        assert!(
            !printed.contains(token.as_str()),
            "a token printed: {printed}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only its owner reads the secrets");

    let settings = Settings::load_with_env(None, Some(container_env(&written))).unwrap();
    starling::http::exposure::check_listener(&settings, public())
        .expect("the written tokens guard a public listener");

    let again = run();
    assert!(!again.status.success(), "an existing starling.env is kept");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), written);
}

#[test]
fn starling_is_published_on_loopback_unless_told_otherwise() {
    let doc = compose();
    let ports = strings(service(&doc, "starling"), "ports");
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(compose_value(&ports[0]), "127.0.0.1:8080:8080");
    assert!(ports[0].contains("${STARLING_PUBLISH:-"), "{ports:?}");
}

#[test]
fn the_tls_profile_runs_caddy_for_the_domain_in_the_environment() {
    let doc = compose();
    for always in ["postgres", "starling"] {
        assert!(
            service(&doc, always).get_sequence("profiles").is_none(),
            "{always} runs without a profile"
        );
    }
    let caddy = service(&doc, "caddy");
    assert_eq!(strings(caddy, "profiles"), ["tls"]);
    let volumes = strings(caddy, "volumes");
    let mounted = volumes
        .iter()
        .find_map(|v| v.strip_suffix(":/etc/caddy/Caddyfile:ro"))
        .expect("the Caddyfile is mounted");
    let caddyfile = read(mounted.trim_start_matches("./"));
    let domain = caddy
        .get_mapping("environment")
        .unwrap()
        .get_scalar("STARLING_DOMAIN")
        .expect("the domain comes from the environment")
        .as_str();
    assert_eq!(domain, "${STARLING_DOMAIN:-localhost}");
    let site = caddyfile
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(
        site, "{$STARLING_DOMAIN} {",
        "the site address is the variable"
    );
    let listen: SocketAddr = public();
    assert!(
        caddyfile.contains(&format!("reverse_proxy starling:{}", listen.port())),
        "{caddyfile}"
    );
    for port in ["80:80", "443:443"] {
        assert!(strings(caddy, "ports").iter().any(|p| p == port), "{port}");
    }
    // Certificates survive a restart in named volumes.
    let named = doc.as_mapping().unwrap().get_mapping("volumes").unwrap();
    for volume in volumes.iter().filter(|v| !v.starts_with("./")) {
        let name = volume.split(':').next().unwrap();
        assert!(named.get_node(name).is_some(), "volume {name} is declared");
    }
    let readme = read("README.md");
    assert!(readme.contains("--profile tls") && readme.contains("STARLING_DOMAIN"));
}

#[test]
fn the_image_build_caches_dependencies_and_copies_no_local_state() {
    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in ["target/", ".git/", "*.db", ".env", "starling.env"] {
        assert!(ignored.contains(&must), ".dockerignore lacks {must}");
    }

    let dockerfile = read("Dockerfile");
    let first_build = dockerfile.find("cargo build").unwrap();
    let copy_src = dockerfile.find("COPY src ").unwrap();
    assert!(
        first_build < copy_src,
        "dependencies are built before the sources are copied"
    );
    let (stubs, real) = dockerfile.split_at(copy_src);
    assert!(stubs.contains("COPY Cargo.toml Cargo.lock ./"));
    // Cargo refuses a manifest whose [[bench]] files are missing.
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    for bench in manifest["bench"].as_array().unwrap() {
        let name = bench["name"].as_str().unwrap();
        let listed = stubs
            .lines()
            .find(|l| l.contains("for bench in"))
            .expect("a stub per bench");
        assert!(
            listed
                .split_whitespace()
                .any(|w| w.trim_end_matches(';') == name),
            "bench {name} has no stub in the Dockerfile"
        );
    }
    assert!(
        real.contains("touch src/main.rs src/lib.rs"),
        "the real sources are rebuilt even when older than the stubs"
    );
    // What the build copies is not ignored.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            let source = source.trim_end_matches('/');
            assert!(
                !ignored.iter().any(|i| i.trim_end_matches('/') == source),
                "{source} is copied but ignored"
            );
            assert!(
                std::path::Path::new(&root(source)).exists(),
                "{source} exists"
            );
        }
    }
}
