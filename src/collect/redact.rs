//! What `fwdoctor capture` leaves out, so that a capture is safe to attach to a public bug
//! report.
//!
//! * Docker's JSON (`/info`, `/version`, `/containers/json`, `/networks`, `daemon.json`) keeps
//!   only the fields fwdoctor reads ([`crate::parse::docker`]), in the same shape: a
//!   container's `Command`, `Labels`, `Mounts` and environment-derived fields, `/info`'s proxy
//!   settings and registry configuration, `daemon.json`'s `proxies` are dropped. JSON that
//!   does not parse is kept as it is (the check then names the broken line), with the
//!   credentials below removed.
//! * In every file, the password of a URL (`scheme://user:password@host`) becomes `***`, and
//!   so does a user-only part (`https://TOKEN@host`, how access tokens are passed).
//!
//! This is the one place a capture file is not the exact stdout of its source (DESIGN.md);
//! the README's "Running as root" section says so.

use crate::collect::evidence::files;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Which parts of a JSON value to keep.
enum Keep {
    /// The value whole.
    All,
    /// An object: only these keys, each filtered by its own rule.
    Fields(&'static [(&'static str, Keep)]),
    /// An array: each element by the rule.
    Each(&'static Keep),
    /// An object whose keys are names (networks by name): each value by the rule.
    Values(&'static Keep),
}

// Keep these in step with the wire types at the end of src/parse/docker.rs.
const INFO: Keep = Keep::Fields(&[
    ("ServerVersion", Keep::All),
    ("FirewallBackend", Keep::Fields(&[("Driver", Keep::All)])),
    ("IPv4Forwarding", Keep::All),
    ("SecurityOptions", Keep::All),
    ("DockerRootDir", Keep::All),
]);
const VERSION: Keep = Keep::Fields(&[("Version", Keep::All)]);
const IPAM_CONFIG: Keep = Keep::Fields(&[("Subnet", Keep::All)]);
const NETWORK: Keep = Keep::Fields(&[
    ("Name", Keep::All),
    ("Id", Keep::All),
    ("Driver", Keep::All),
    ("EnableIPv6", Keep::All),
    ("Internal", Keep::All),
    (
        "IPAM",
        Keep::Fields(&[("Config", Keep::Each(&IPAM_CONFIG))]),
    ),
    (
        "Options",
        Keep::Fields(&[("com.docker.network.bridge.name", Keep::All)]),
    ),
]);
const PORT: Keep = Keep::Fields(&[
    ("IP", Keep::All),
    ("PrivatePort", Keep::All),
    ("PublicPort", Keep::All),
    ("Type", Keep::All),
]);
const ENDPOINT: Keep = Keep::Fields(&[("IPAddress", Keep::All), ("GlobalIPv6Address", Keep::All)]);
const CONTAINER: Keep = Keep::Fields(&[
    ("Id", Keep::All),
    ("Names", Keep::All),
    ("Ports", Keep::Each(&PORT)),
    (
        "NetworkSettings",
        Keep::Fields(&[("Networks", Keep::Values(&ENDPOINT))]),
    ),
]);
const DAEMON: Keep = Keep::Fields(&[
    ("iptables", Keep::All),
    ("ip6tables", Keep::All),
    ("ip-forward", Keep::All),
    ("userland-proxy", Keep::All),
    ("firewall-backend", Keep::All),
]);

/// The content to write for capture file `name`: Docker's JSON cut to what fwdoctor reads,
/// and URL credentials removed from every file.
pub fn for_capture<'a>(name: &str, text: &'a str) -> Cow<'a, str> {
    let keep = match name {
        files::DOCKER_INFO => Some(&INFO),
        files::DOCKER_VERSION => Some(&VERSION),
        files::DOCKER_CONTAINERS => Some(&Keep::Each(&CONTAINER)),
        files::DOCKER_NETWORKS => Some(&Keep::Each(&NETWORK)),
        files::DOCKER_DAEMON => Some(&DAEMON),
        _ => None,
    };
    let filtered = keep.and_then(|keep| {
        let value: Value = serde_json::from_str(text).ok()?;
        let mut out = serde_json::to_string(&filter(value, keep)).ok()?;
        out.push('\n');
        Some(out)
    });
    match filtered {
        Some(json) => Cow::Owned(url_credentials(&json).into_owned()),
        None => url_credentials(text),
    }
}

fn filter(value: Value, keep: &Keep) -> Value {
    match (keep, value) {
        (Keep::All, v) => v,
        (Keep::Fields(fields), Value::Object(mut map)) => {
            let mut kept = Map::new();
            for (key, rule) in *fields {
                if let Some(v) = map.remove(*key) {
                    kept.insert((*key).to_string(), filter(v, rule));
                }
            }
            Value::Object(kept)
        }
        (Keep::Each(rule), Value::Array(items)) => {
            Value::Array(items.into_iter().map(|v| filter(v, rule)).collect())
        }
        (Keep::Values(rule), Value::Object(map)) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, filter(v, rule))).collect())
        }
        // Not the shape Docker sends: only a scalar is kept, for the parser to name.
        (_, v @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
        (_, Value::Array(_)) => Value::Array(Vec::new()),
        (_, Value::Object(_)) => Value::Object(Map::new()),
    }
}

/// `text` with the credentials of every `scheme://userinfo@host` replaced: `user:password@`
/// becomes `user:***@`, a lone `token@` becomes `***@`. Borrowed when there is none.
pub fn url_credentials(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    for at in memchr::memmem::find_iter(text.as_bytes(), "://") {
        let start = at + 3;
        if start < copied {
            continue;
        }
        let rest = &text[start..];
        let authority_end = rest
            .find(|c: char| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(
                        c,
                        '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '\\' | '`' | ','
                    )
            })
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let Some(user_end) = authority.rfind('@') else {
            continue;
        };
        let userinfo = &authority[..user_end];
        let secret = match userinfo.find(':') {
            Some(colon) => start + colon + 1..start + user_end,
            None => start..start + user_end,
        };
        if secret.is_empty() || &text[secret.clone()] == "***" {
            continue;
        }
        out.push_str(&text[copied..secret.start]);
        out.push_str("***");
        copied = secret.end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::docker::{DockerInputs, parse};

    #[test]
    fn passwords_and_tokens_in_urls_are_hidden() {
        let cases = [
            (
                "HttpProxy: http://alice:s3cret@proxy:3128/",
                "HttpProxy: http://alice:***@proxy:3128/",
            ),
            (
                "git clone https://ghp_TOKEN@github.com/x",
                "git clone https://***@github.com/x",
            ),
            (
                "\"postgres://u:p@db/x\",\"x\"",
                "\"postgres://u:***@db/x\",\"x\"",
            ),
            (
                "no creds: http://host:80/a@b",
                "no creds: http://host:80/a@b",
            ),
            ("mail me@host, http://h/", "mail me@host, http://h/"),
            ("a://u:***@h", "a://u:***@h"),
        ];
        for (input, want) in cases {
            assert_eq!(url_credentials(input), want, "{input}");
        }
        assert!(matches!(
            url_credentials("-A INPUT -j ACCEPT\n"),
            Cow::Borrowed(_)
        ));
    }

    const INFO_JSON: &str = r#"{"ServerVersion":"27.3.1","IPv4Forwarding":true,
        "HttpProxy":"http://bob:hunter2@proxy.corp:3128","HttpsProxy":"","NoProxy":"",
        "SecurityOptions":["name=seccomp,profile=builtin","name=rootless"],
        "DockerRootDir":"/var/lib/docker","FirewallBackend":{"Driver":"iptables","Info":[["x","y"]]},
        "RegistryConfig":{"Mirrors":["https://u:pw@mirror"]},"Name":"host1"}"#;
    const CONTAINERS_JSON: &str = r#"[{"Id":"abc123","Names":["/web"],"Image":"nginx",
        "Command":"/app --db-password=hunter2","Labels":{"secret":"x"},
        "Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}],
        "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2","GlobalIPv6Address":"",
        "MacAddress":"02:42:ac:11:00:02","Aliases":null}}},"Mounts":[{"Source":"/home/x"}]}]"#;
    const NETWORKS_JSON: &str = r#"[{"Name":"bridge","Id":"0123456789abcdef","Driver":"bridge",
        "EnableIPv6":false,"Internal":false,"Labels":{"k":"v"},
        "IPAM":{"Driver":"default","Config":[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]},
        "Options":{"com.docker.network.bridge.name":"docker0","com.example.key":"k"}}]"#;

    #[test]
    fn docker_json_keeps_what_fwdoctor_reads_and_nothing_else() {
        let info = for_capture(files::DOCKER_INFO, INFO_JSON);
        let containers = for_capture(files::DOCKER_CONTAINERS, CONTAINERS_JSON);
        let networks = for_capture(files::DOCKER_NETWORKS, NETWORKS_JSON);
        let daemon = for_capture(
            files::DOCKER_DAEMON,
            r#"{"iptables":false,"proxies":{"http-proxy":"http://a:b@p"}}"#,
        );
        for (text, gone) in [
            (&info, "hunter2"),
            (&info, "Mirrors"),
            (&info, "host1"),
            (&containers, "db-password"),
            (&containers, "Labels"),
            (&containers, "Mounts"),
            (&networks, "com.example.key"),
            (&networks, "Gateway"),
            (&daemon, "proxies"),
        ] {
            assert!(!text.contains(gone), "{gone} left in {text}");
        }
        assert_eq!(daemon, "{\"iptables\":false}\n");
        let before = parse(&DockerInputs {
            info: Some(INFO_JSON),
            containers: Some(CONTAINERS_JSON),
            networks: Some(NETWORKS_JSON),
            ..DockerInputs::default()
        })
        .unwrap();
        let after = parse(&DockerInputs {
            info: Some(&info),
            containers: Some(&containers),
            networks: Some(&networks),
            ..DockerInputs::default()
        })
        .unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn json_that_does_not_parse_is_kept_with_credentials_removed() {
        let broken = "{\"HttpProxy\":\"http://u:pw@p\",";
        assert_eq!(
            for_capture(files::DOCKER_INFO, broken),
            "{\"HttpProxy\":\"http://u:***@p\","
        );
        let odd = for_capture(files::DOCKER_CONTAINERS, r#"{"Command":"x"}"#);
        assert_eq!(
            odd, "{}\n",
            "an object where an array belongs keeps its shape only"
        );
    }
}
