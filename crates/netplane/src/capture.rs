//! Packet captures for the encrypted-overlay tests (feature `testbed`): tcpdump on a host's
//! underlay link, and what the tests look for in what it saw.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::testbed::{UdpPacket, udp_packets};

/// tcpdump writing every UDP packet on `eth0` to a file, until [`Capture::finish`].
pub struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    /// Starts `tcpdump` as `command` runs it (a `Command` for "tcpdump" inside the host's
    /// namespace) and returns once it listens: nothing sent after that is missed.
    pub fn start(mut command: Command, file: PathBuf) -> Capture {
        let mut child = command
            // Immediate mode: without it packets wait in the ring buffer for up to a second,
            // and the SIGINT that ends the capture would drop them.
            .args([
                "-i",
                "eth0",
                "-n",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
                "-s",
                "0",
                "-w",
            ])
            .arg(&file)
            .arg("udp")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump (apt-get install tcpdump)");
        let stderr = child.stderr.take().expect("tcpdump's stderr");
        let (ready, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = ready.send(());
                }
            }
        });
        listening
            .recv_timeout(Duration::from_secs(20))
            .expect("tcpdump started listening");
        Capture { child, file }
    }

    /// Stops tcpdump (SIGINT flushes its file) and returns the UDP packets it saw.
    pub fn finish(mut self) -> Vec<UdpPacket> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal tcpdump");
        self.child.wait().expect("tcpdump exits");
        let bytes = std::fs::read(&self.file).expect("capture file");
        let _ = std::fs::remove_file(&self.file);
        udp_packets(&bytes)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The VXLAN header of `vni` (flags "VNI present", the VNI, reserved bytes).
pub fn vxlan_header(vni: u32) -> [u8; 8] {
    let v = vni.to_be_bytes();
    [0x08, 0, 0, 0, v[1], v[2], v[3], 0]
}
