//! Gateway configuration: every key of API.md with its embedded default, loaded from
//! TOML (`--config FILE`), then overridden by command-line flags.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The complete, effective configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    pub api: ApiConfig,
    pub media: MediaConfig,
    pub gateways: Vec<GatewayConfig>,
}

/// `[sip]`: the UDP signalling listener and who may talk to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP address SIP listens on.
    pub listen: SocketAddr,
    /// Address written into Via, Contact and SDP; derived from `listen` when absent.
    pub public_addr: Option<IpAddr>,
    /// Peers allowed to send requests; others get 403.
    pub allow: Vec<IpNet>,
    /// RFC 3261 T1 in milliseconds (retransmission base).
    pub t1_ms: u64,
    /// Maximum number of simultaneous calls (0: unlimited).
    pub max_calls: usize,
    /// User part used in our Contact header.
    pub contact_user: String,
}

/// `[api]`: the JSON-RPC WebSocket listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token required on the WebSocket upgrade when set.
    pub token: Option<String>,
    /// Seconds a resource may stay without an owner connection before it is released.
    pub orphan_timeout_seconds: u64,
    /// Events held per orphaned resource before the oldest are dropped.
    pub held_events_per_resource: usize,
}

/// `[media]`: workers, ports and file roots.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Media worker threads; 0 means one per core.
    pub workers: usize,
    /// Inclusive RTP port range "LOW-HIGH"; RTP uses even ports, RTCP the next odd one.
    pub rtp_ports: String,
    pub root: PathBuf,
    pub record_root: PathBuf,
    /// Directory of the prompt set; absent: the set embedded in the binary.
    pub prompts: Option<PathBuf>,
    /// Hang up a call whose peer sent no RTP for this long (0: never).
    pub rtp_timeout_seconds: u64,
    /// Shell command that turns text into speech: it finds the text in the environment
    /// variable `MEDIAGW_TTS_TEXT` and writes a WAV file to `MEDIAGW_TTS_OUT`.
    pub tts_command: Option<String>,
    /// Pin each media worker to its own core (turn off when several gateways share a
    /// machine, as the tests do).
    pub pin_cores: bool,
}

/// One `[[gateways]]` entry: a SIP peer we dial through, with a concurrency limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub address: String,
    #[serde(default)]
    pub max_concurrent: usize,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: "0.0.0.0:5060".parse().expect("literal"),
            public_addr: None,
            allow: vec![
                "127.0.0.0/8".parse().expect("literal"),
                "::1/128".parse().expect("literal"),
            ],
            t1_ms: 500,
            max_calls: 0,
            contact_user: "mediagw".into(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8088".parse().expect("literal"),
            token: None,
            orphan_timeout_seconds: 60,
            held_events_per_resource: 256,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            workers: 0,
            rtp_ports: "20000-39999".into(),
            root: PathBuf::from("./media"),
            record_root: PathBuf::from("./media/records"),
            prompts: None,
            rtp_timeout_seconds: 60,
            tts_command: None,
            pin_cores: true,
        }
    }
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Parse a TOML document; missing keys keep their defaults, unknown keys are errors.
    pub fn from_toml(text: &str, path: &std::path::Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Read and parse a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Check cross-key rules; returns the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.media.rtp_port_range()?;
        if !self.api.listen.ip().is_loopback() && self.api.token.is_none() {
            return Err(ConfigError::Invalid {
                key: "api.token",
                message: format!(
                    "api.listen {} is not a loopback address: set api.token",
                    self.api.listen
                ),
            });
        }
        if self.sip.t1_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "sip.t1_ms",
                message: "must be at least 1".into(),
            });
        }
        for gw in &self.gateways {
            if gw.address.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: "gateways.address",
                    message: "empty address".into(),
                });
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML (for `--print-config`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// The address we put in Via, Contact and SDP.
    pub fn public_ip(&self) -> IpAddr {
        if let Some(ip) = self.sip.public_addr {
            return ip;
        }
        let ip = self.sip.listen.ip();
        if !ip.is_unspecified() {
            return ip;
        }
        first_non_loopback(ip.is_ipv6()).unwrap_or(if ip.is_ipv6() {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        })
    }

    /// Number of media workers after resolving 0 to the number of cores.
    pub fn worker_count(&self) -> usize {
        if self.media.workers > 0 {
            self.media.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

impl MediaConfig {
    /// `rtp_ports` as an inclusive (low, high) pair with low even and room for RTCP.
    pub fn rtp_port_range(&self) -> Result<(u16, u16), ConfigError> {
        let bad = |m: &str| ConfigError::Invalid {
            key: "media.rtp_ports",
            message: format!("{m} (got {:?}, expected \"LOW-HIGH\")", self.rtp_ports),
        };
        let (lo, hi) = self
            .rtp_ports
            .split_once('-')
            .ok_or_else(|| bad("missing '-'"))?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad("LOW is not a port"))?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad("HIGH is not a port"))?;
        if lo < 1024 || hi <= lo {
            return Err(bad("need 1024 <= LOW < HIGH"));
        }
        let lo = lo + (lo % 2);
        if hi < lo + 1 {
            return Err(bad("range holds no even/odd port pair"));
        }
        Ok((lo, hi))
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
    fn defaults_match_api_md() {
        let c = Config::default();
        assert_eq!(c.sip.listen.to_string(), "0.0.0.0:5060");
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:8088");
        assert_eq!(c.media.rtp_ports, "20000-39999");
        assert_eq!(c.media.rtp_port_range().unwrap(), (20000, 39999));
        assert_eq!(c.api.orphan_timeout_seconds, 60);
        assert_eq!(c.sip.allow.len(), 2);
        assert!(c.gateways.is_empty());
        c.validate().unwrap();
    }

    #[test]
    fn toml_overrides_and_round_trips() {
        let text = r#"
            [sip]
            listen = "127.0.0.1:5070"
            allow = ["10.20.0.0/16"]
            [[gateways]]
            address = "10.20.0.1:5060"
            max_concurrent = 480
        "#;
        let c = Config::from_toml(text, "x.toml".as_ref()).unwrap();
        assert_eq!(c.sip.listen.port(), 5070);
        assert_eq!(c.gateways[0].max_concurrent, 480);
        assert_eq!(c.api.listen.port(), 8088);
        let again = Config::from_toml(&c.to_toml(), "y.toml".as_ref()).unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml("[sip]\nlisten_typo = 1\n", "x.toml".as_ref()).unwrap_err();
        assert!(err.to_string().contains("listen_typo"), "{err}");
    }

    #[test]
    fn non_loopback_api_needs_token() {
        let mut c = Config::default();
        c.api.listen = "0.0.0.0:8088".parse().unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("api.token"));
        c.api.token = Some("s3cret".into());
        c.validate().unwrap();
    }

    #[test]
    fn bad_port_range_is_rejected() {
        let mut c = Config::default();
        for bad in ["abc", "30000-20000", "80-90", "20000"] {
            c.media.rtp_ports = bad.into();
            assert!(c.validate().is_err(), "{bad}");
        }
        c.media.rtp_ports = "20001-20010".into();
        assert_eq!(c.media.rtp_port_range().unwrap(), (20002, 20010));
    }
}
