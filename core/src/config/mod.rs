//! Gateway configuration: every key of API.md with its embedded default, parsed from
//! TOML text, and the checks across keys. Reading the file and the machine (the number
//! of cores, the host's address) is the driver's (`mediagw::config_file`).

use std::net::{IpAddr, SocketAddr};
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
    pub cdr: CdrConfig,
}

/// `[cdr]`: call detail records.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CdrConfig {
    /// File that gets one JSON line per released call (the `on_released` parameters with
    /// the call's media figures), appended and written through at each call's end.
    /// None: no records.
    pub path: Option<PathBuf>,
}

/// `[sip]`: the UDP signalling listener and who may talk to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP address SIP listens on.
    pub listen: SocketAddr,
    /// Address written into Via, Contact and SDP; derived from `listen` when absent.
    pub public_addr: Option<IpAddr>,
    /// Peers allowed to send requests; the others' requests get `deny_action`.
    pub allow: Vec<IpNet>,
    /// What a request from outside `allow` gets: `reject` (a stateless 403 to its source
    /// address) or `drop` (nothing: it is not even parsed).
    pub deny_action: DenyAction,
    /// New INVITEs one source IP may send per second (a token bucket holding as many,
    /// like Kamailio's pike); past it they get 503 with `Retry-After`. 0: no limit.
    pub max_invites_per_second_per_source: u32,
    /// RFC 3261 T1 in milliseconds (retransmission base).
    pub t1_ms: u64,
    /// Maximum number of simultaneous calls (0: unlimited).
    pub max_calls: usize,
    /// On SIGTERM, how long live calls may run on before they are hung up (new calls
    /// are refused from the first moment).
    pub drain_seconds: u64,
    /// User part used in our Contact header.
    pub contact_user: String,
    /// `HOST:PORT` (an IP literal or `localhost`) every out-of-dialog request (INVITE,
    /// CANCEL) is sent to, with a loose `Route` naming it; the Request-URI stays the
    /// `to_uri`. None: requests go to the `to_uri` host.
    pub outbound_proxy: Option<String>,
    /// RFC 4028 session interval we ask for and accept at most, in seconds (0: never ask
    /// for session timers; a peer's are still honoured).
    pub session_expires: u32,
    /// The smallest session interval we accept (422 below it); at least 90.
    pub min_se: u32,
}

/// What a SIP request from a peer outside `sip.allow` gets.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DenyAction {
    /// A 403, sent statelessly to the datagram's source address.
    #[default]
    Reject,
    /// Silence.
    Drop,
}

/// `[api]`: the JSON-RPC WebSocket listener. Its `Debug` never shows the token.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token required on the WebSocket upgrade when set.
    pub token: Option<String>,
    /// Seconds a resource may stay without an owner connection before it is released.
    pub orphan_timeout_seconds: u64,
    /// Events held per orphaned resource before the oldest are dropped.
    pub held_events_per_resource: usize,
    /// Open API connections (WebSocket and HTTP) at most; more are refused with 503.
    pub max_connections: usize,
    /// `[api.nats]`: the NATS control bus (off while `url` is unset).
    pub nats: NatsConfig,
}

/// `[api.nats]`: the API on a NATS control bus, beside the WebSocket (deploy/README.md,
/// "Control bus"). Off while `url` is unset: nothing changes then, res_ids included.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// The NATS server(s), e.g. `nats://10.0.0.5:4222` (comma-separated for a cluster).
    /// None: the bus is off.
    pub url: Option<String>,
    /// This node's name: a NATS subject token (letters, digits, `-`, `_`), unique among
    /// the nodes on the bus; it is written into every res_id. None: the driver derives
    /// one from the host name and the SIP port.
    pub node: Option<String>,
    /// How long an application instance has to claim an inbound call offered on
    /// `mediagw.incoming` before it goes to a WebSocket client (or is refused with 480).
    pub offer_timeout_ms: u64,
    /// How long an event published on `mediagw.<node>.events.<res_id>` waits for an
    /// application's acknowledgement before it (and every later event of that resource)
    /// is held for the next request on the res_id.
    pub event_ack_ms: u64,
    /// How long a request for another node's res_id waits for that node's reply.
    pub forward_timeout_ms: u64,
    /// The heartbeat on `mediagw.<node>.heartbeat`, every this many milliseconds.
    pub heartbeat_ms: u64,
    /// A node whose heartbeat is missing this long is lost: its live calls get
    /// `on_released` from the surviving node with the smallest name.
    pub node_lost_ms: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: None,
            node: None,
            offer_timeout_ms: 2000,
            event_ack_ms: 1000,
            forward_timeout_ms: 5000,
            heartbeat_ms: 1000,
            node_lost_ms: 3000,
        }
    }
}

/// Whether `s` can be one token of a NATS subject and a node name in a res_id: non-empty,
/// at most 64 characters among ASCII letters, digits, `-` and `_`.
pub fn is_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
    /// Also listen for in-band DTMF tones on calls that negotiated telephone-event
    /// (trunks that send tones anyway), while the call is not joined; a press seen both
    /// ways is reported once.
    pub inband_with_telephone_event: bool,
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
            deny_action: DenyAction::Reject,
            max_invites_per_second_per_source: 50,
            t1_ms: 500,
            max_calls: 0,
            drain_seconds: 30,
            contact_user: "mediagw".into(),
            outbound_proxy: None,
            session_expires: 1800,
            min_se: 90,
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("orphan_timeout_seconds", &self.orphan_timeout_seconds)
            .field("held_events_per_resource", &self.held_events_per_resource)
            .field("max_connections", &self.max_connections)
            .field("nats", &self.nats)
            .finish()
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8088".parse().expect("literal"),
            token: None,
            orphan_timeout_seconds: 60,
            held_events_per_resource: 256,
            max_connections: 10_000,
            nats: NatsConfig::default(),
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
            inband_with_telephone_event: false,
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
        if self.api.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "api.max_connections",
                message: "must be at least 1".into(),
            });
        }
        if self.sip.t1_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "sip.t1_ms",
                message: "must be at least 1".into(),
            });
        }
        if let Some(p) = &self.sip.outbound_proxy {
            self.sip
                .outbound_proxy_addr()
                .ok_or_else(|| ConfigError::Invalid {
                    key: "sip.outbound_proxy",
                    message: format!(
                        "{p:?} is not HOST:PORT with an IP address or localhost (DNS is not used)"
                    ),
                })?;
        }
        if self.sip.min_se < crate::sip::session_timer::ABSOLUTE_MIN_SE {
            return Err(ConfigError::Invalid {
                key: "sip.min_se",
                message: format!("must be at least 90 (RFC 4028), got {}", self.sip.min_se),
            });
        }
        if self.sip.session_expires != 0 && self.sip.session_expires < self.sip.min_se {
            return Err(ConfigError::Invalid {
                key: "sip.session_expires",
                message: format!(
                    "must be 0 (off) or at least sip.min_se ({}), got {}",
                    self.sip.min_se, self.sip.session_expires
                ),
            });
        }
        if let Some(node) = &self.api.nats.node
            && !is_node_name(node)
        {
            return Err(ConfigError::Invalid {
                key: "api.nats.node",
                message: format!(
                    "{node:?} is not a node name: 1 to 64 ASCII letters, digits, '-' or '_'"
                ),
            });
        }
        let n = &self.api.nats;
        if n.url.is_some()
            && [
                n.offer_timeout_ms,
                n.event_ack_ms,
                n.forward_timeout_ms,
                n.heartbeat_ms,
            ]
            .contains(&0)
        {
            return Err(ConfigError::Invalid {
                key: "api.nats",
                message: "the timeouts and the heartbeat must be at least 1 ms".into(),
            });
        }
        if n.url.is_some() && n.node_lost_ms < 2 * n.heartbeat_ms {
            return Err(ConfigError::Invalid {
                key: "api.nats.node_lost_ms",
                message: format!(
                    "must be at least twice api.nats.heartbeat_ms ({}), got {}",
                    n.heartbeat_ms, n.node_lost_ms
                ),
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

    /// The effective configuration as TOML (for `--print-config`). A set `api.token` is
    /// not printed: a comment under `[api]` says it is set.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        let hidden = shown.api.token.take().is_some();
        let text =
            toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot print: {e}\n"));
        if !hidden {
            return text;
        }
        let note = "# token = (set, not printed)\n";
        match text.find("[api]\n") {
            Some(i) => format!("{}{note}{}", &text[..i + 6], &text[i + 6..]),
            None => format!("{note}{text}"),
        }
    }
}

impl SipConfig {
    /// The transport address of `outbound_proxy` (None when unset or not an IP literal).
    pub fn outbound_proxy_addr(&self) -> Option<SocketAddr> {
        let (host, port) = crate::sip::split_host_port(self.outbound_proxy.as_deref()?)?;
        crate::sip::resolve(&host, port)
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
        assert_eq!(c.api.max_connections, 10_000);
        assert!(!c.media.inband_with_telephone_event);
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
            [media]
            inband_with_telephone_event = true
            [[gateways]]
            address = "10.20.0.1:5060"
            max_concurrent = 480
        "#;
        let c = Config::from_toml(text, "x.toml".as_ref()).unwrap();
        assert_eq!(c.sip.listen.port(), 5070);
        assert!(c.media.inband_with_telephone_event);
        assert_eq!(c.sip.deny_action, DenyAction::Reject);
        assert_eq!(c.sip.max_invites_per_second_per_source, 50);
        assert_eq!(c.gateways[0].max_concurrent, 480);
        assert_eq!(c.api.listen.port(), 8088);
        let again = Config::from_toml(&c.to_toml(), "y.toml".as_ref()).unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn the_nats_section_parses_and_checks_the_node_name() {
        let c = Config::default();
        assert_eq!(c.api.nats.url, None, "the bus is off by default");
        let text = r#"
            [api.nats]
            url = "nats://127.0.0.1:4222"
            node = "gw-a_1"
            offer_timeout_ms = 1500
        "#;
        let c = Config::from_toml(text, "x.toml".as_ref()).unwrap();
        assert_eq!(c.api.nats.url.as_deref(), Some("nats://127.0.0.1:4222"));
        assert_eq!(c.api.nats.node.as_deref(), Some("gw-a_1"));
        assert_eq!(c.api.nats.offer_timeout_ms, 1500);
        assert_eq!(c.api.nats.heartbeat_ms, 1000);
        let again = Config::from_toml(&c.to_toml(), "y.toml".as_ref()).unwrap();
        assert_eq!(c, again);
        for bad in ["a.b", "a*", ">", "", "has space"] {
            let mut c = c.clone();
            c.api.nats.node = Some(bad.into());
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("api.nats.node"), "{bad:?}: {e}");
        }
        let mut c = c.clone();
        c.api.nats.node_lost_ms = 1500;
        assert!(
            c.validate().is_err(),
            "lost before two heartbeats are missed"
        );
    }

    #[test]
    fn the_token_is_never_printed() {
        let mut c = Config::default();
        c.api.token = Some("s3cret-tok".into());
        let text = c.to_toml();
        assert!(!text.contains("s3cret-tok"), "{text}");
        assert!(
            text.contains("[api]\n# token = (set, not printed)\n"),
            "{text}"
        );
        let back = Config::from_toml(&text, "x.toml".as_ref()).unwrap();
        assert_eq!(back.api.token, None);
        assert!(!format!("{c:?}").contains("s3cret-tok"));
    }

    #[test]
    fn deny_action_is_reject_or_drop() {
        let c = Config::from_toml("[sip]\ndeny_action = \"drop\"\n", "x.toml".as_ref()).unwrap();
        assert_eq!(c.sip.deny_action, DenyAction::Drop);
        let e = Config::from_toml("[sip]\ndeny_action = \"ignore\"\n", "x.toml".as_ref())
            .unwrap_err()
            .to_string();
        assert!(e.contains("reject") && e.contains("drop"), "{e}");
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
    fn outbound_proxy_and_session_timer_keys() {
        let mut c = Config::default();
        assert_eq!(c.sip.session_expires, 1800);
        assert_eq!(c.sip.min_se, 90);
        c.sip.outbound_proxy = Some("127.0.0.1:5070".into());
        c.validate().unwrap();
        assert_eq!(
            c.sip.outbound_proxy_addr(),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        c.sip.outbound_proxy = Some("proxy.example.com:5060".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("sip.outbound_proxy"), "{e}");
        c.sip.outbound_proxy = None;
        c.sip.min_se = 30;
        assert!(c.validate().unwrap_err().to_string().contains("sip.min_se"));
        c.sip.min_se = 120;
        c.sip.session_expires = 100;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("sip.session_expires")
        );
        c.sip.session_expires = 0;
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
