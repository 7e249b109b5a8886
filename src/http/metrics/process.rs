//! The process's own figures, under the names every Prometheus client library
//! uses (`process_resident_memory_bytes`, `process_cpu_seconds_total`, …), read
//! from `/proc/self` on Linux at each scrape. Elsewhere they are left out.
//!
//! Read by hand rather than through a crate: five files of `/proc`, and the
//! `metrics-process` crate would add a dependency tree for the same reads.

use super::text::{header, sample};

/// What one read of `/proc/self` found.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    resident_bytes: f64,
    virtual_bytes: f64,
    cpu_seconds: f64,
    start_time_seconds: f64,
    open_fds: f64,
    max_fds: Option<f64>,
}

/// Appends the `process_*` families, when they can be read.
pub fn render(out: &mut String) {
    let Some(f) = read() else { return };
    let families = [
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            Some(f.resident_bytes),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            Some(f.virtual_bytes),
        ),
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            Some(f.cpu_seconds),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            Some(f.start_time_seconds),
        ),
        (
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            Some(f.open_fds),
        ),
        (
            "process_max_fds",
            "gauge",
            "The soft limit on open file descriptors.",
            f.max_fds,
        ),
    ];
    for (name, kind, help, value) in families {
        if let Some(value) = value {
            header(out, name, kind, help);
            sample(out, name, "", value);
        }
    }
}

#[cfg(target_os = "linux")]
fn read() -> Option<Figures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    parse(&stat, &status, &boot, &limits, open_fds)
}

#[cfg(not(target_os = "linux"))]
fn read() -> Option<Figures> {
    None
}

/// `/proc` reports CPU times and the start time in `USER_HZ` ticks, which the
/// kernel fixes at 100 for user space on every architecture it exports it to
/// (`sysconf(_SC_CLK_TCK)` answers the same constant).
const TICKS_PER_SECOND: f64 = 100.0;

fn parse(stat: &str, status: &str, boot: &str, limits: &str, open_fds: f64) -> Option<Figures> {
    // The command name (field 2) is in parentheses and may hold spaces: count
    // fields after the last `)`. There, index 0 is field 3 (state).
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    let (utime, stime, started) = (field(14)?, field(15)?, field(22)?);
    let virtual_bytes = field(23)?;
    let kib = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .split_whitespace()
            .next()?
            .parse::<f64>()
            .ok()
    };
    let btime = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let max_fds = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok());
    Some(Figures {
        resident_bytes: kib("VmRSS:")? * 1024.0,
        virtual_bytes,
        cpu_seconds: (utime + stime) / TICKS_PER_SECOND,
        start_time_seconds: btime + started / TICKS_PER_SECOND,
        open_fds,
        max_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command name with spaces and a parenthesis must not shift the fields.
    #[test]
    fn proc_files_are_read_by_field_number() {
        let stat = "4242 (star (ling) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 \
                    12345 104857600 2000 18446744073709551615";
        let status = "Name:\tstarling\nVmSize:\t  102400 kB\nVmRSS:\t    8000 kB\n";
        let boot = "cpu  1 2 3\nbtime 1764547200\nprocesses 10\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let f = parse(stat, status, boot, limits, 12.0).unwrap();
        assert_eq!(f.cpu_seconds, 3.0);
        assert_eq!(f.start_time_seconds, 1764547200.0 + 123.45);
        assert_eq!(f.virtual_bytes, 104857600.0);
        assert_eq!(f.resident_bytes, 8000.0 * 1024.0);
        assert_eq!(f.max_fds, Some(1024.0));
        assert_eq!(f.open_fds, 12.0);
    }

    #[test]
    fn a_truncated_stat_is_not_read() {
        assert_eq!(
            parse("1 (x) S 1 2", "VmRSS: 1 kB", "btime 1", "", 1.0),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_running_now() {
        let f = read().expect("/proc/self is readable");
        assert!(f.resident_bytes > 0.0 && f.open_fds > 0.0, "{f:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            f.start_time_seconds <= now + 1.0 && f.start_time_seconds > now - 86_400.0,
            "{f:?}"
        );
    }
}
