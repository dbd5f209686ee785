//! The Docker API on TCP (`--api-addr`), with dockerd's TLS flags:
//!
//! ```text
//! --tlsverify + --tlscacert/--tlscert/--tlskey ─► TLS, client certificate signed by the CA required
//! --tls + --tlscert/--tlskey [+ --tlscacert]   ─► TLS, client certificates checked if presented
//! neither                                      ─► plain HTTP: loopback only (Host checked against
//!                                                 DNS rebinding) unless --insecure-tcp
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// dockerd's TLS flags and ours for plain TCP.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct TlsArgs {
    /// Serve the TCP API over TLS (implied by --tlsverify).
    #[arg(long)]
    pub tls: bool,
    /// Serve the TCP API over TLS and require client certificates signed by --tlscacert.
    #[arg(long)]
    pub tlsverify: bool,
    /// CA certificate (PEM) that client certificates must chain to.
    #[arg(long, value_name = "PATH")]
    pub tlscacert: Option<PathBuf>,
    /// The API's TLS certificate (PEM).
    #[arg(long, value_name = "PATH")]
    pub tlscert: Option<PathBuf>,
    /// The API's TLS private key (PEM).
    #[arg(long, value_name = "PATH")]
    pub tlskey: Option<PathBuf>,
    /// Allow plain, unauthenticated TCP on an address other than loopback (anyone who can
    /// reach it controls the cluster).
    #[arg(long)]
    pub insecure_tcp: bool,
}

/// How the TCP listener serves, decided from the flags before anything is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP; `anywhere` when --insecure-tcp lifts the loopback rule.
    Plain {
        /// Non-loopback addresses allowed.
        anywhere: bool,
    },
    /// TLS with these files.
    Tls {
        /// Server certificate chain.
        cert: PathBuf,
        /// Server key.
        key: PathBuf,
        /// CA for client certificates.
        ca: Option<PathBuf>,
        /// Client certificates required.
        verify: bool,
    },
}

/// The flags' meaning, or why they do not fit together.
pub fn mode(args: &TlsArgs) -> anyhow::Result<Mode> {
    let tls = args.tls || args.tlsverify;
    if !tls {
        anyhow::ensure!(
            args.tlscacert.is_none() && args.tlscert.is_none() && args.tlskey.is_none(),
            "--tlscacert, --tlscert and --tlskey need --tls or --tlsverify"
        );
        return Ok(Mode::Plain {
            anywhere: args.insecure_tcp,
        });
    }
    anyhow::ensure!(!args.insecure_tcp, "--insecure-tcp contradicts --tls/--tlsverify");
    let (Some(cert), Some(key)) = (&args.tlscert, &args.tlskey) else {
        anyhow::bail!("--tls and --tlsverify need --tlscert and --tlskey");
    };
    if args.tlsverify && args.tlscacert.is_none() {
        anyhow::bail!("--tlsverify needs --tlscacert: the CA that signs client certificates");
    }
    Ok(Mode::Tls {
        cert: cert.clone(),
        key: key.clone(),
        ca: args.tlscacert.clone(),
        verify: args.tlsverify,
    })
}

/// True when any TLS-related flag was given.
pub fn any_given(args: &TlsArgs) -> bool {
    args.tls
        || args.tlsverify
        || args.insecure_tcp
        || args.tlscacert.is_some()
        || args.tlscert.is_some()
        || args.tlskey.is_some()
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

fn certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the {what} {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "no certificate in the {what} {}",
        path.display()
    );
    Ok(certs)
}

/// The rustls server config for a TLS mode.
pub fn server_config(mode: &Mode) -> anyhow::Result<Option<Arc<ServerConfig>>> {
    let Mode::Tls {
        cert,
        key,
        ca,
        verify,
    } = mode
    else {
        return Ok(None);
    };
    let provider = Arc::new(ring::default_provider());
    let chain = certs(cert, "TLS certificate")?;
    let key = PrivateKeyDer::from_pem_slice(&read(key, "TLS key")?)
        .with_context(|| format!("parsing the TLS key {}", key.display()))?;
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca, "TLS CA certificate")? {
                roots
                    .add(c)
                    .with_context(|| format!("adding the CA {}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if *verify {
                verifier.build()?
            } else {
                verifier.allow_unauthenticated().build()?
            };
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .context("the TLS key does not match the certificate")?;
    Ok(Some(Arc::new(config)))
}

/// Binds `addr` and checks it against `mode` (plain TCP stays on loopback unless allowed).
pub async fn bind(addr: &str, mode: &Mode) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding API address {addr}"))?;
    check_bound(&listener, mode)?;
    Ok(listener)
}

/// Refuses a plain listener off loopback unless --insecure-tcp, and warns when allowed.
pub fn check_bound(listener: &tokio::net::TcpListener, mode: &Mode) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    if let Mode::Plain { anywhere } = mode
        && !local.ip().is_loopback()
    {
        anyhow::ensure!(
            *anywhere,
            "refusing plain TCP on {local}: it is not a loopback address and the API has no \
             authentication without TLS; use --tlsverify --tlscacert --tlscert --tlskey, or \
             --insecure-tcp to accept the risk"
        );
        tracing::warn!(
            "serving the Docker API on {local} over plain TCP without authentication (--insecure-tcp): \
             anyone who can reach this address controls the cluster"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut TlsArgs)) -> TlsArgs {
        let mut a = TlsArgs::default();
        f(&mut a);
        a
    }

    #[test]
    fn flags_combine_like_dockerd() {
        assert_eq!(
            mode(&TlsArgs::default()).unwrap(),
            Mode::Plain { anywhere: false }
        );
        assert_eq!(
            mode(&args(|a| a.insecure_tcp = true)).unwrap(),
            Mode::Plain { anywhere: true }
        );
        let full = args(|a| {
            a.tlsverify = true;
            a.tlscacert = Some("ca.pem".into());
            a.tlscert = Some("cert.pem".into());
            a.tlskey = Some("key.pem".into());
        });
        assert_eq!(
            mode(&full).unwrap(),
            Mode::Tls {
                cert: "cert.pem".into(),
                key: "key.pem".into(),
                ca: Some("ca.pem".into()),
                verify: true
            }
        );
        let no_ca = args(|a| {
            a.tlsverify = true;
            a.tlscert = Some("cert.pem".into());
            a.tlskey = Some("key.pem".into());
        });
        assert!(mode(&no_ca).unwrap_err().to_string().contains("--tlscacert"));
        let no_key = args(|a| {
            a.tls = true;
            a.tlscert = Some("cert.pem".into());
        });
        assert!(mode(&no_key).is_err());
        let stray = args(|a| a.tlscert = Some("cert.pem".into()));
        assert!(mode(&stray).unwrap_err().to_string().contains("need --tls"));
        let both = args(|a| {
            a.tls = true;
            a.insecure_tcp = true;
        });
        assert!(mode(&both).is_err());
    }

    #[tokio::test]
    async fn plain_tcp_stays_on_loopback() {
        let plain = Mode::Plain { anywhere: false };
        assert!(bind("127.0.0.1:0", &plain).await.is_ok());
        let any = bind("0.0.0.0:0", &plain).await.unwrap_err().to_string();
        assert!(any.contains("refusing plain TCP"), "{any}");
        assert!(bind("0.0.0.0:0", &Mode::Plain { anywhere: true }).await.is_ok());
    }
}
