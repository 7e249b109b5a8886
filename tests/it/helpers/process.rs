//! The real `starling` binary as a child process, for tests that kill it, signal
//! it, or read everything it logs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub struct StarlingProcess {
    pub child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<String>>,
    log_done: mpsc::Receiver<()>,
}

impl StarlingProcess {
    /// Starts `starling serve` on 127.0.0.1:0 with `env` and waits until it listens.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::start_args(&["serve"], env)
    }

    /// Starts `starling ARGS…` (e.g. `--config FILE serve`) like [`Self::start`].
    pub fn start_args(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_starling"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("STARLING__SERVER__LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the starling binary starts");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (done_tx, log_done) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("Starling is listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let addr = addr
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = addr_tx.send(addr);
                }
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
            let _ = done_tx.send(());
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("a socket address in the log"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "starling did not start listening; its log:\n{}",
                    logs.lock().unwrap()
                );
            }
        };
        Self {
            child,
            addr,
            logs,
            log_done,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGKILL unless it has already exited (cleanup at the end of a test).
    pub fn kill9_if_running(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
    }

    /// SIGTERM, then the exit status and everything the process logged.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        let _ = self.log_done.recv_timeout(Duration::from_secs(10));
        let logs = self.logs.lock().unwrap().clone();
        (status, logs)
    }
}

/// A failed test must not leave its server running.
impl Drop for StarlingProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
