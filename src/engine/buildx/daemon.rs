//! Whether the Docker engine a buildx build will reach answers, checked before anything is
//! decided or started: where the docker CLI connects, read from the environment as docker/cli
//! reads it (`cli/flags/options.go`: `DOCKER_HOST`; TLS on when `DOCKER_TLS_VERIFY` or
//! `DOCKER_TLS` is non-empty, verifying only with `DOCKER_TLS_VERIFY`; the certificates in
//! `DOCKER_CERT_PATH`, else the docker config directory, as `ca.pem`, `cert.pem`, `key.pem`),
//! then one `GET /_ping` there with the same TLS settings. A TCP daemon is what GitLab's
//! `docker:dind` service is (`tcp://docker:2376`, client certificates in `/certs/client`), and a
//! wrong setting there otherwise fails only inside buildx, after the cache decision.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env::Env;
use crate::error::Error;

/// The default socket the CLI uses without `DOCKER_HOST`.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// The ping's whole deadline: a daemon that answers does so in milliseconds.
const PING_DEADLINE: Duration = Duration::from_secs(10);
/// What is read of a refusal's body (Go's plain-HTTP refusal is one short line).
const PING_BODY_CAP: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix {
        host: String,
        path: String,
    },
    Tcp {
        authority: String,
        tls: Option<Tls>,
    },
    /// `ssh://`, `fd://`, `npipe://`: left to the CLI.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub verify: bool,
    pub dir: PathBuf,
    /// Said after the directory when `DOCKER_CERT_PATH` is unset and the config's is used.
    pub unset_note: &'static str,
}

/// Where the docker CLI connects with this environment (pure).
pub fn endpoint(env: &Env) -> Endpoint {
    let set = |name: &str| env.get(name).filter(|v| !v.is_empty());
    let host = set("DOCKER_HOST").unwrap_or(DEFAULT_HOST);
    if let Some(path) = host.strip_prefix("unix://") {
        return Endpoint::Unix {
            host: host.to_owned(),
            path: path.to_owned(),
        };
    }
    let Some(address) = host.strip_prefix("tcp://") else {
        return Endpoint::Other;
    };
    let verify = set("DOCKER_TLS_VERIFY").is_some();
    let tls = (verify || set("DOCKER_TLS").is_some()).then(|| match set("DOCKER_CERT_PATH") {
        Some(dir) => Tls {
            verify,
            dir: PathBuf::from(dir),
            unset_note: "",
        },
        None => Tls {
            verify,
            dir: env
                .docker_config_dir()
                .unwrap_or_else(|| PathBuf::from(".docker")),
            unset_note: " (DOCKER_CERT_PATH is unset: the docker config directory)",
        },
    });
    // The CLI's default ports: 2376 with TLS, 2375 without (docker/cli `opts/hosts.go`).
    let address = address.trim_end_matches('/');
    let authority = if address
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    {
        address.to_owned()
    } else {
        format!("{address}:{}", if tls.is_some() { 2376 } else { 2375 })
    };
    Endpoint::Tcp { authority, tls }
}

/// The engine at `endpoint` answers its ping, or the one line that says which variable to fix.
pub fn check(endpoint: &Endpoint) -> Result<(), Error> {
    match endpoint {
        Endpoint::Unix { host, path } => {
            if Path::new(path).exists() {
                Ok(())
            } else {
                Err(Error::EngineMissing { host: host.clone() })
            }
        }
        Endpoint::Tcp { authority, tls } => ping(authority, tls.as_ref()),
        Endpoint::Other => Ok(()),
    }
}

fn unreachable(variable: &'static str, message: String) -> Error {
    Error::EngineUnreachable { variable, message }
}

/// `GET /_ping` with the CLI's TLS settings.
fn ping(authority: &str, tls: Option<&Tls>) -> Result<(), Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(PING_DEADLINE)
        .connect_timeout(PING_DEADLINE)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(tls) = tls {
        let file = |name: &str| tls.dir.join(name);
        let read = |name: &str| std::fs::read(file(name));
        if tls.verify {
            let ca = read("ca.pem").map_err(|e| {
                unreachable(
                    "DOCKER_CERT_PATH",
                    format!(
                        "{}{}: {e}. Point DOCKER_CERT_PATH at the directory holding the daemon's ca.pem, cert.pem and key.pem (GitLab's docker:dind with DOCKER_TLS_CERTDIR=/certs: /certs/client)",
                        file("ca.pem").display(),
                        tls.unset_note
                    ),
                )
            })?;
            let ca = reqwest::Certificate::from_pem(&ca).map_err(|e| {
                unreachable(
                    "DOCKER_CERT_PATH",
                    format!("{} is not a PEM certificate: {e}", file("ca.pem").display()),
                )
            })?;
            builder = builder.tls_certs_only([ca]);
        } else {
            // `DOCKER_TLS` without `DOCKER_TLS_VERIFY`: TLS, the daemon's certificate unchecked,
            // as the CLI does (`InsecureSkipVerify = !TLSVerify`).
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        // The client certificate is optional to the CLI: used when both files exist.
        if let (Ok(mut pem), Ok(key)) = (read("cert.pem"), read("key.pem")) {
            pem.extend(key);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                unreachable(
                    "DOCKER_CERT_PATH",
                    format!(
                        "{} and key.pem do not make a client identity: {e}",
                        file("cert.pem").display()
                    ),
                )
            })?;
            builder = builder.identity(identity);
        }
    }
    let client = builder.build().map_err(|e| {
        unreachable(
            "DOCKER_CERT_PATH",
            format!("cannot set up TLS: {}", crate::registry::error_chain(&e)),
        )
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{authority}/_ping");
    let answer = crate::runtime::block_on(async {
        let mut response = client.get(&url).send().await?;
        let status = response.status();
        // Only a refusal's start is read, to tell Go's "HTTP request to an HTTPS server": what
        // answers may not be a Docker engine, and its body is never shown.
        let mut head = Vec::new();
        while !status.is_success() && head.len() < PING_BODY_CAP {
            match response.chunk().await? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, String::from_utf8_lossy(&head).into_owned()))
    });
    match answer {
        Ok((status, _)) if status.is_success() => Ok(()),
        Ok((_, body)) if body.contains("HTTP request to an HTTPS server") => Err(unreachable(
            "DOCKER_TLS_VERIFY",
            format!(
                "{authority} serves TLS and DOCKER_TLS_VERIFY is not set: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the client certificates' directory (GitLab's docker:dind: /certs/client)"
            ),
        )),
        Ok((status, _)) => Err(unreachable(
            "DOCKER_HOST",
            format!(
                "{authority} answered GET /_ping with {status}, not as a Docker engine does: point DOCKER_HOST at the engine"
            ),
        )),
        Err(e) => Err(failure(authority, tls, &crate::registry::error_chain(&e))),
    }
}

/// A failed ping as the variable that needs fixing (pure): TLS spoken to a plain daemon, a
/// certificate either side refuses, or nothing answering.
fn failure(authority: &str, tls: Option<&Tls>, cause: &str) -> Error {
    let said = |needle: &str| cause.contains(needle);
    let nothing_answers = || {
        unreachable(
            "DOCKER_HOST",
            format!(
                "nothing answers at {authority} ({cause}): check DOCKER_HOST and that the engine is up (GitLab: a docker:dind service, DOCKER_HOST=tcp://docker:2376)"
            ),
        )
    };
    let Some(tls) = tls else {
        return nothing_answers();
    };
    let dir = tls.dir.display();
    // A plain-HTTP server answers the TLS hello with text: rustls reads no TLS record.
    if said("InvalidContentType") || said("corrupt message") {
        return unreachable(
            "DOCKER_TLS_VERIFY",
            format!(
                "{authority} does not speak TLS ({cause}): unset DOCKER_TLS_VERIFY and DOCKER_TLS for a plain daemon, or point DOCKER_HOST at the daemon's TLS port (2376)"
            ),
        );
    }
    if said("invalid peer certificate") {
        return unreachable(
            "DOCKER_CERT_PATH",
            format!(
                "the certificate of {authority} is not trusted with {dir}/ca.pem{} ({cause}): point DOCKER_CERT_PATH at the client certificates made with the daemon's, whose ca.pem signed its certificate",
                tls.unset_note
            ),
        );
    }
    if said("received fatal alert") {
        return unreachable(
            "DOCKER_CERT_PATH",
            format!(
                "{authority} refused the client certificate in {dir}{} ({cause}): point DOCKER_CERT_PATH at the client certificates its CA signed",
                tls.unset_note
            ),
        );
    }
    nothing_answers()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_os(vars.iter().map(|(k, v)| ((*k).into(), (*v).into())))
    }

    #[test]
    fn the_endpoint_is_read_as_the_docker_cli_reads_it() {
        assert_eq!(
            endpoint(&env(&[])),
            Endpoint::Unix {
                host: DEFAULT_HOST.into(),
                path: "/var/run/docker.sock".into()
            }
        );
        assert_eq!(
            endpoint(&env(&[("DOCKER_HOST", "tcp://docker:2375")])),
            Endpoint::Tcp {
                authority: "docker:2375".into(),
                tls: None
            }
        );
        // GitLab's docker:dind variables.
        assert_eq!(
            endpoint(&env(&[
                ("DOCKER_HOST", "tcp://docker:2376"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/certs/client"),
            ])),
            Endpoint::Tcp {
                authority: "docker:2376".into(),
                tls: Some(Tls {
                    verify: true,
                    dir: "/certs/client".into(),
                    unset_note: ""
                })
            }
        );
        // Any non-empty value turns TLS on, "0" included (docker/cli: `!= ""`); the default
        // port follows TLS; the certificates default to the config directory.
        let Endpoint::Tcp { authority, tls } = endpoint(&env(&[
            ("DOCKER_HOST", "tcp://10.0.0.5"),
            ("DOCKER_TLS_VERIFY", "0"),
            ("DOCKER_CONFIG", "/home/me/.docker"),
        ])) else {
            panic!("a TCP endpoint")
        };
        assert_eq!(authority, "10.0.0.5:2376");
        let tls = tls.unwrap();
        assert!(tls.verify);
        assert_eq!(tls.dir, PathBuf::from("/home/me/.docker"));
        assert!(tls.unset_note.contains("DOCKER_CERT_PATH is unset"));
        let Endpoint::Tcp { authority, tls } = endpoint(&env(&[
            ("DOCKER_HOST", "tcp://10.0.0.5"),
            ("DOCKER_TLS", "1"),
        ])) else {
            panic!("a TCP endpoint")
        };
        assert_eq!(authority, "10.0.0.5:2376");
        assert!(!tls.unwrap().verify);
        assert_eq!(
            endpoint(&env(&[("DOCKER_HOST", "tcp://10.0.0.5")])),
            Endpoint::Tcp {
                authority: "10.0.0.5:2375".into(),
                tls: None
            }
        );
        assert_eq!(
            endpoint(&env(&[("DOCKER_HOST", "ssh://me@host")])),
            Endpoint::Other
        );
    }

    #[test]
    fn a_failed_ping_names_the_variable_to_fix() {
        let tls = Tls {
            verify: true,
            dir: "/certs/client".into(),
            unset_note: "",
        };
        let variable = |tls: Option<&Tls>, cause: &str| match failure("docker:2376", tls, cause) {
            Error::EngineUnreachable { variable, .. } => variable,
            other => panic!("{other}"),
        };
        assert_eq!(
            variable(
                Some(&tls),
                "received corrupt message of type InvalidContentType"
            ),
            "DOCKER_TLS_VERIFY"
        );
        assert_eq!(
            variable(Some(&tls), "invalid peer certificate: UnknownIssuer"),
            "DOCKER_CERT_PATH"
        );
        assert_eq!(
            variable(Some(&tls), "received fatal alert: BadCertificate"),
            "DOCKER_CERT_PATH"
        );
        assert_eq!(
            variable(Some(&tls), "Connection refused (os error 111)"),
            "DOCKER_HOST"
        );
        assert_eq!(
            variable(None, "Connection refused (os error 111)"),
            "DOCKER_HOST"
        );
    }
}
