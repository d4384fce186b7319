//! The gateway's configuration file for a test or a load run: loopback defaults with a
//! caller's TOML snippet merged over them (tables merge key by key, any other value, array
//! of tables included, replaces the default).

use std::path::Path;

use toml::{Table, Value};

/// The defaults: SIP and API on ephemeral loopback ports, the RTP block starting at
/// `rtp_first`, media and recordings under `media_root`, one unpinned worker.
pub fn defaults(rtp_first: u16, rtp_ports: u16, media_root: &Path) -> Table {
    let mut sip = Table::new();
    sip.insert("listen".into(), "127.0.0.1:0".into());
    let mut api = Table::new();
    api.insert("listen".into(), "127.0.0.1:0".into());
    let last = u32::from(rtp_first) + u32::from(rtp_ports.max(2)) - 1;
    let mut media = Table::new();
    media.insert("rtp_ports".into(), format!("{rtp_first}-{last}").into());
    media.insert("root".into(), media_root.display().to_string().into());
    media.insert(
        "record_root".into(),
        media_root.join("records").display().to_string().into(),
    );
    media.insert("workers".into(), 1.into());
    media.insert("pin_cores".into(), false.into());
    let mut t = Table::new();
    t.insert("sip".into(), sip.into());
    t.insert("api".into(), api.into());
    t.insert("media".into(), media.into());
    t
}

/// `base` with `snippet` (TOML text) merged over it, as the text of a configuration file.
pub fn merged(mut base: Table, snippet: &str) -> anyhow::Result<String> {
    let extra: Table = snippet
        .parse()
        .map_err(|e| anyhow::anyhow!("configuration snippet {snippet:?}: {e}"))?;
    merge(&mut base, extra);
    Ok(toml::to_string(&base)?)
}

fn merge(base: &mut Table, extra: Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_keys_override_and_extend_the_defaults() {
        let base = defaults(30000, 200, Path::new("/tmp/m"));
        let text = merged(
            base,
            "[sip]\nt1_ms = 50\n[media]\nworkers = 4\n[[gateways]]\naddress = \"127.0.0.1:5\"\n",
        )
        .expect("merge");
        let t: Table = text.parse().expect("valid TOML");
        assert_eq!(t["sip"]["listen"].as_str(), Some("127.0.0.1:0"));
        assert_eq!(t["sip"]["t1_ms"].as_integer(), Some(50));
        assert_eq!(t["media"]["workers"].as_integer(), Some(4));
        assert_eq!(t["media"]["pin_cores"].as_bool(), Some(false));
        assert_eq!(t["media"]["rtp_ports"].as_str(), Some("30000-30199"));
        assert_eq!(t["media"]["record_root"].as_str(), Some("/tmp/m/records"));
        assert_eq!(
            t["gateways"][0]["address"].as_str(),
            Some("127.0.0.1:5"),
            "{text}"
        );
    }

    #[test]
    fn a_broken_snippet_is_an_error() {
        let base = defaults(30000, 200, Path::new("/tmp/m"));
        assert!(merged(base, "[sip\n").is_err());
    }
}
