//! The mesh benchmark's clients: blocking loops on a thread of their own moved into a host's,
//! an ingress sandbox's or a task's network namespace, and the CPU time they and the agents
//! spend.
//!
//! A fresh thread per measurement: `setns` moves only the calling thread, and a runtime's
//! pooled thread must never be left in another namespace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one connection may wait for its peer before the run fails.
const IO_LIMIT: Duration = Duration::from_secs(20);

/// What a run of sequential HTTP/1.0 requests measured.
pub struct Requests {
    /// Completed requests per second (one TCP connection each).
    pub per_second: f64,
    /// Each request's time from `connect` to the server's close, in seconds.
    pub latencies: Vec<f64>,
}

/// What one TCP stream into a sink measured.
pub struct Stream {
    /// Payload bits per second, in Gbit/s.
    pub gbit: f64,
    /// CPU time of the sending thread (its system calls and the softirq work they run).
    pub sender_cpu: f64,
    /// CPU time the whole machine spent busy meanwhile (every core; user, system, interrupts):
    /// the path's cost, wherever the kernel ran it.
    pub machine_cpu: f64,
    /// The stream's wall time, in seconds.
    pub seconds: f64,
}

impl Stream {
    /// Machine CPU seconds per GiB carried.
    pub fn machine_cpu_per_gib(&self) -> f64 {
        let gib = self.gbit * 1e9 / 8.0 * self.seconds / f64::from(1u32 << 30);
        if gib > 0.0 { self.machine_cpu / gib } else { 0.0 }
    }

    /// Cores busy on average during the stream (at most the machine's count).
    pub fn cores_busy(&self) -> f64 {
        if self.seconds > 0.0 {
            self.machine_cpu / self.seconds
        } else {
            0.0
        }
    }
}

/// Runs `work` on a new thread inside the network namespace at `netns` and waits for it,
/// without holding up the runtime's other tasks.
fn in_netns<T: Send + 'static>(
    netns: &Path,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let netns = netns.to_path_buf();
    let thread = std::thread::spawn(move || {
        let ns = std::fs::File::open(&netns).map_err(|e| anyhow::anyhow!("{}: {e}", netns.display()))?;
        // SAFETY: moves only this thread, which ends with the measurement, into the namespace
        // of a file that stays open for the call.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        anyhow::ensure!(
            rc == 0,
            "setns {}: {}",
            netns.display(),
            std::io::Error::last_os_error()
        );
        work()
    });
    tokio::task::block_in_place(|| thread.join()).map_err(|_| anyhow::anyhow!("client thread panicked"))?
}

/// Connects, retrying until `limit` (a sink listens again only a moment after each
/// connection ends; a path may still be converging).
fn connect(addr: Ipv4Addr, port: u16, limit: Duration) -> anyhow::Result<TcpStream> {
    let deadline = Instant::now() + limit;
    loop {
        match TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(2)) {
            Ok(s) => {
                s.set_read_timeout(Some(IO_LIMIT))?;
                s.set_write_timeout(Some(IO_LIMIT))?;
                return Ok(s);
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => anyhow::bail!("connect {addr}:{port}: {e}"),
        }
    }
}

/// One HTTP/1.0 `GET /` on a fresh connection; the whole answer.
fn get(addr: Ipv4Addr, port: u16, limit: Duration) -> anyhow::Result<Vec<u8>> {
    let mut s = connect(addr, port, limit)?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    anyhow::ensure!(
        answer.starts_with(b"HTTP/1."),
        "{addr}:{port} answered {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    Ok(answer)
}

/// Waits until `addr:port` answers an HTTP request from inside `netns` (the mesh's rules
/// reach every host a moment after the task runs).
pub fn wait_http(netns: &Path, addr: Ipv4Addr, port: u16, limit: Duration) -> anyhow::Result<()> {
    in_netns(netns, move || {
        let deadline = Instant::now() + limit;
        loop {
            match get(addr, port, Duration::from_secs(2)) {
                Ok(_) => return Ok(()),
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(e.context(format!("{addr}:{port} never answered"))),
            }
        }
    })
}

/// `n` HTTP/1.0 requests in sequence, one connection each, from inside `netns`.
pub fn requests(netns: &Path, addr: Ipv4Addr, port: u16, n: usize) -> anyhow::Result<Requests> {
    in_netns(netns, move || {
        let mut latencies = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            get(addr, port, Duration::ZERO)?;
            latencies.push(t.elapsed().as_secs_f64());
        }
        Ok(Requests {
            per_second: n as f64 / start.elapsed().as_secs_f64(),
            latencies,
        })
    })
}

/// One TCP stream of `bytes` from inside `netns` into the sink at `addr:port`, timed from
/// the first write to the sink's close after the sender's end.
pub fn stream(netns: &Path, addr: Ipv4Addr, port: u16, bytes: usize) -> anyhow::Result<Stream> {
    in_netns(netns, move || {
        let mut s = connect(addr, port, Duration::from_secs(10))?;
        let chunk = vec![0x5au8; 1 << 20];
        let cpu0 = thread_cpu();
        let machine0 = machine_cpu();
        let start = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n])?;
            left -= n;
        }
        s.shutdown(Shutdown::Write)?;
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)?;
        let seconds = start.elapsed().as_secs_f64();
        Ok(Stream {
            gbit: bytes as f64 * 8.0 / seconds / 1e9,
            sender_cpu: thread_cpu() - cpu0,
            machine_cpu: machine_cpu() - machine0,
            seconds,
        })
    })
}

/// The calling thread's user + system CPU time, in seconds.
fn thread_cpu() -> f64 {
    // SAFETY: getrusage only writes the zeroed struct it is handed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD names the calling thread.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Clock ticks per second, the unit of /proc's CPU times.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// Busy CPU time of the whole machine since boot, in seconds: user, nice, system, irq and
/// softirq of /proc/stat's `cpu` line (idle, iowait and steal left out; guest time is inside
/// user already).
pub fn machine_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let fields: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let ticks = |i: usize| fields.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq …
    (ticks(0) + ticks(1) + ticks(2) + ticks(5) + ticks(6)) / clock_ticks()
}

/// User + system CPU time of process `pid` (all its threads), in seconds; 0 once it is gone.
pub fn process_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces and parentheses: fields are counted after its last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3 (state).
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// The data plane's pinned namespace `name` of agent `pid`, once it exists. The agent pins
/// them in its own mount namespace, so they are reached through its `/proc/PID/root`; the
/// directory is shared by every agent of the machine and shows the others' pins as empty
/// files, hence the exact name (tagged with the node) and the check that it is mounted.
pub fn plane_netns(pid: u32, name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(format!("/proc/{pid}/root/run/shoal/netns/{name}"));
    let ns = std::fs::File::open(&path).ok()?;
    is_nsfs(&ns).then_some(path)
}

/// Whether `file` lives on the namespace filesystem (a mounted pin).
fn is_nsfs(file: &std::fs::File) -> bool {
    // SAFETY: fstatfs writes into the struct it is handed, for an fd that is open.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) };
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    rc == 0 && fs.f_type as i64 == NSFS_MAGIC
}

/// The data plane's owner tag of node `node_id`: its last 12 letters and digits, lower case
/// (as the daemon's network layer names what it makes: `shoal-<tag>-…`).
pub fn plane_tag(node_id: &str) -> String {
    let clean: Vec<char> = node_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    clean[clean.len().saturating_sub(12)..].iter().collect()
}

/// A busybox server the benchmark runs itself in a host's namespace (no container), killed
/// when dropped.
pub struct Server(std::process::Child);

impl Server {
    /// `busybox <args>` inside `netns`.
    pub fn start(netns: &Path, args: &[&str]) -> anyhow::Result<Server> {
        let child = std::process::Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg("busybox")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting busybox {args:?} in {}: {e}", netns.display()))?;
        Ok(Server(child))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // nsenter execs busybox, so the child is the server itself.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_spent_some_cpu() {
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(process_cpu(std::process::id()) >= 0.0);
        assert!(thread_cpu() > 0.0);
        assert_eq!(process_cpu(u32::MAX), 0.0);
    }

    #[test]
    fn a_plane_tag_is_the_last_12_letters_and_digits() {
        assert_eq!(plane_tag("0a1b2c3d4e5f6g7h8i9j0k1l2"), "g7h8i9j0k1l2");
        assert_eq!(plane_tag("AB-c"), "abc");
        assert!(plane_netns(std::process::id(), "shoal-none-ingress").is_none());
    }
}
