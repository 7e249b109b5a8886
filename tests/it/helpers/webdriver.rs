//! A real headless Chromium for the console's browser tests, driven over
//! WebDriver: `Browser::start(test, base)` starts its own `chromedriver` (port
//! chosen by chromedriver, so parallel tests never collide) in its own process
//! group with its own profile directory, and opens a session. Dropping the
//! `Browser` kills that process group (chromedriver and every Chromium process
//! it started), by the id of the process we spawned; a failed test leaks nothing.
//!
//! A missing binary or a session that does not start fails the test saying how
//! to install Chromium (`scripts/test` does it when run as root): browser tests
//! never skip themselves.

use super::poll_for;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a page condition may take before the test fails.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// The window's size (screenshots grow it to the page's height).
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

const INSTALL: &str = "The console's browser tests need Chromium and chromedriver: \
    run scripts/test (it installs them when run as root), or \
    `sudo apt-get update && sudo apt-get install -y chromium chromium-driver`.";

/// `name` on `PATH`, if it is there.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// A `chromedriver` process and the process group it leads.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        let binary = on_path("chromedriver")
            .unwrap_or_else(|| panic!("chromedriver is not on PATH. {INSTALL}"));
        let mut child = Command::new(&binary)
            .arg("--port=0")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}. {INSTALL}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (port_tx, port_rx) = mpsc::channel();
        // Reads until chromedriver exits, so its pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = port_tx.send(port);
                }
            }
        });
        let mut driver = Self {
            child,
            url: String::new(),
        };
        match port_rx.recv_timeout(PAGE_WAIT) {
            Ok(port) => driver.url = format!("http://127.0.0.1:{port}"),
            Err(_) => panic!(
                "chromedriver did not say which port it listens on within {PAGE_WAIT:?} \
                 (exit status: {:?}). {INSTALL}",
                driver.child.try_wait()
            ),
        }
        driver
    }
}

impl Drop for Driver {
    /// SIGKILL to the whole group: chromedriver and the Chromium it launched.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// The WebDriver capabilities of a headless Chromium that runs as root in a
/// container (no sandbox, no /dev/shm) with its own profile.
fn capabilities(profile: &std::path::Path) -> fantoccini::wd::Capabilities {
    let binary = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(on_path)
        .unwrap_or_else(|| panic!("Chromium is not on PATH. {INSTALL}"));
    let options = serde_json::json!({
        "binary": binary,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={WIDTH},{HEIGHT}"),
        ],
    });
    let mut caps = fantoccini::wd::Capabilities::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert("goog:chromeOptions".into(), options);
    caps
}

/// One browser window on one console (`base`, e.g. `http://127.0.0.1:PORT`).
pub struct Browser {
    pub client: Client,
    pub base: String,
    /// Names the screenshots: `target/screenshots/<test>-<page>.png`.
    test: String,
    // Dropped in this order: Chromium (with its driver) is gone before its
    // profile directory is removed.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(test: &str, base: &str) -> Self {
        let driver = Driver::start();
        let profile = tempfile::tempdir().expect("a profile directory");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities(profile.path()))
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("no Chromium session at {}: {e}. {INSTALL}", driver.url));
        Self {
            client,
            base: base.to_string(),
            test: test.to_string(),
            _driver: driver,
            _profile: profile,
        }
    }

    /// Opens `path` of the console (or a full `http…` URL).
    pub async fn open(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// The path (and query) the window shows now.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The first element matching `css`, waiting up to [`PAGE_WAIT`] for it.
    pub async fn find(&self, css: &str) -> Element {
        let found = poll_for(PAGE_WAIT, async || {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await;
        match found {
            Some(element) => element,
            None => panic!("no `{css}` on {}: {}", self.path().await, self.body().await),
        }
    }

    /// Every element matching `css` now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    /// Waits until `css`'s text contains `needle`; returns that text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let found = poll_for(PAGE_WAIT, async || {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let text = element.text().await.ok()?;
            text.contains(needle).then_some(text)
        })
        .await;
        match found {
            Some(text) => text,
            None => panic!(
                "`{css}` never contained {needle:?} on {}: {}",
                self.path().await,
                self.body().await
            ),
        }
    }

    /// Reloads the page until `css`'s text contains `needle` (a page that does
    /// not update itself, as a person would); returns that text.
    pub async fn reload_until(&self, css: &str, needle: &str) -> String {
        let found = poll_for(PAGE_WAIT, async || {
            self.client.refresh().await.ok()?;
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let text = element.text().await.ok()?;
            text.contains(needle).then_some(text)
        })
        .await;
        match found {
            Some(text) => text,
            None => panic!(
                "`{css}` still did not contain {needle:?} after reloads of {}: {}",
                self.path().await,
                self.body().await
            ),
        }
    }

    /// Clicks the element matching `css`, as a person would.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    /// The page's visible text (for failure messages and assertions).
    pub async fn body(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(e) => format!("(no body: {e})"),
        }
    }

    /// Runs `script` in the page and returns its value.
    pub async fn script(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Writes the whole page (the window grown to its height, then put back)
    /// as `target/screenshots/<test>-<page>.png`; returns the path.
    pub async fn screenshot(&self, page: &str) -> PathBuf {
        let needed = self
            .script(
                "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight;",
            )
            .await
            .as_u64()
            .unwrap_or(u64::from(HEIGHT)) as u32;
        let tall = needed.clamp(HEIGHT, 4 * HEIGHT);
        self.client
            .set_window_size(WIDTH, tall)
            .await
            .expect("a window size");
        let png = self.client.screenshot().await.expect("a screenshot");
        self.client
            .set_window_size(WIDTH, HEIGHT)
            .await
            .expect("the window size back");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("target/screenshots");
        let file = dir.join(format!("{}-{page}.png", self.test));
        std::fs::write(&file, png).expect("the screenshot is written");
        file
    }

    /// Ends the session (Chromium quits), then the driver is killed.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// `$CARGO_TARGET_DIR/screenshots`, or the package's `target/screenshots`.
pub fn screenshots_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("screenshots")
}
