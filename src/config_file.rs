//! The configuration's IO: reading the TOML file, and the facts of this machine that
//! defaults depend on (the number of cores, the first non-loopback address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::path::Path;

use crate::config::{Config, ConfigError};

/// Reads and parses a TOML file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Config::from_toml(&text, path)
}

/// The address we put in Via, Contact and SDP: `sip.public_addr`, else the listen
/// address, else (listening on 0.0.0.0) the first non-loopback address.
pub fn public_ip(cfg: &Config) -> IpAddr {
    if let Some(ip) = cfg.sip.public_addr {
        return ip;
    }
    let ip = cfg.sip.listen.ip();
    if !ip.is_unspecified() {
        return ip;
    }
    first_non_loopback(ip.is_ipv6()).unwrap_or(if ip.is_ipv6() {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    })
}

/// Number of media workers after resolving 0 to the number of cores.
pub fn worker_count(cfg: &Config) -> usize {
    if cfg.media.workers > 0 {
        cfg.media.workers
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// The first non-loopback local address, found by asking the kernel for a route
/// (no packet is sent by `connect` on a UDP socket).
fn first_non_loopback(v6: bool) -> Option<IpAddr> {
    let (bind, probe) = if v6 {
        ("[::]:0", "[2001:db8::1]:9")
    } else {
        ("0.0.0.0:0", "192.0.2.1:9")
    };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect(probe).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_reads_a_file_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("gw.toml");
        std::fs::write(&p, "[sip]\nlisten = \"127.0.0.1:5070\"\n").expect("write");
        let c = load(&p).expect("loads");
        assert_eq!(c.sip.listen.port(), 5070);
        assert_eq!(public_ip(&c), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(worker_count(&c) >= 1);
        let e = load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml"), "{e}");
    }
}
