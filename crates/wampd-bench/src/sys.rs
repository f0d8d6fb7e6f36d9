//! Operating-system facts the generator needs: its own open-file limit and another process's
//! resident memory.
//!
//! Tens of thousands of sessions need as many file descriptors, so the generator raises its
//! soft `RLIMIT_NOFILE` to the hard limit at start. The idle scenario measures the router's
//! memory per session from `VmRSS` in `/proc/<pid>/status` (Linux).

use std::io;

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The current `(soft, hard)` open-file limits.
pub fn nofile_limits() -> io::Result<(u64, u64)> {
    rlimit::Resource::NOFILE.get()
}

/// A PM QoS request for 0 µs CPU wake-up latency, in force while this value lives.
///
/// On virtual machines (and power-saving hosts) an idle CPU halts, and waking it for the next
/// event costs tens of microseconds, which dominates a sequential round trip on an otherwise idle
/// machine. Writing 0 to `/dev/cpu_dma_latency` and keeping it open makes idle CPUs poll instead,
/// as tuned's latency-performance profile does. Closing the file withdraws the request.
#[derive(Debug)]
pub struct CpuLatencyHold {
    _file: std::fs::File,
}

/// Asks for 0 µs CPU wake-up latency until the returned value is dropped (needs root).
pub fn hold_zero_cpu_latency() -> io::Result<CpuLatencyHold> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/cpu_dma_latency")?;
    file.write_all(&0i32.to_ne_bytes())?;
    Ok(CpuLatencyHold { _file: file })
}

/// Parses the `VmRSS:` line of a `/proc/<pid>/status` text; returns bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next().unwrap_or("kB");
    let factor = match unit {
        "kB" | "KB" | "kb" => 1024,
        "mB" | "MB" => 1024 * 1024,
        "B" => 1,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// The resident set size of process `pid` in bytes.
pub fn vm_rss(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS in /proc/{pid}/status"),
        )
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` CPU times (`USER_HZ`, 100 on every Linux ABI
/// the generator targets).
pub const USER_HZ: f64 = 100.0;

/// Parses user + system CPU time (in clock ticks) from a `/proc/<pid>/stat` line. The command
/// name in parentheses may contain spaces, so fields are counted after the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    // After the name: state(3) ppid(4) ... utime(14) stime(15); `rest` starts at field 3.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// User + system CPU time of process `pid` so far, in seconds.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / USER_HZ)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad /proc/{pid}/stat")))
}

/// Parses the aggregate `cpu` line of `/proc/stat`: busy ticks (everything but idle and iowait)
/// summed over all CPUs.
pub fn parse_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    total.checked_sub(idle)
}

/// CPU time used by everything on the machine so far, in seconds (summed over CPUs).
pub fn machine_busy_seconds() -> io::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    parse_busy_ticks(&stat)
        .map(|ticks| ticks as f64 / USER_HZ)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc/stat"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks() {
        let stat = "1234 (wamp d) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(cpu_seconds(std::process::id()).is_ok());
    }

    #[test]
    fn parses_machine_busy_ticks() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(100 + 5 + 50 + 1 + 2 + 3));
        assert_eq!(parse_busy_ticks("intr 1 2 3\n"), None);
        assert!(machine_busy_seconds().is_ok());
    }

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\twampd\nVmPeak:\t  123456 kB\nVmRSS:\t    8192 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(8192 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn reads_our_own_rss_and_limits() {
        let rss = vm_rss(std::process::id()).unwrap();
        assert!(rss > 0);
        let (soft, hard) = nofile_limits().unwrap();
        assert!(soft <= hard);
    }
}
