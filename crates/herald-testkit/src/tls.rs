//! TLS for tests: a throwaway PKI made with rcgen at test time (no key is ever committed) and an
//! HTTPS receiver on 127.0.0.1 that can require a client certificate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// A CA and a certificate with its key, all PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A new CA, and a certificate it signs for `names` (DNS names or IP addresses).
pub fn issue(ca_name: &str, names: &[&str]) -> Issued {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("leaf key");
    let params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .expect("leaf params");
    let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
    Issued { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// An HTTPS receiver answering 204; counts served requests and failed handshakes, and records
/// where its connections came from.
#[derive(Debug, Clone)]
pub struct TlsReceiver {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    refused_handshakes: Arc<AtomicUsize>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl TlsReceiver {
    /// Serves with `server` (a certificate for `localhost`); with `client_ca`, requires client
    /// certificates signed by it.
    pub async fn start(server: &Issued, client_ca: Option<&str>) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).expect("server cert")];
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).expect("server key");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let config = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).expect("client CA")).expect("root");
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .expect("client verifier");
                builder.with_client_cert_verifier(verifier).with_single_cert(chain, key)
            }
            None => builder.with_no_client_auth().with_single_cert(chain, key),
        }
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let served = Arc::new(AtomicUsize::new(0));
        let refused_handshakes = Arc::new(AtomicUsize::new(0));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (count, refused, accepted) = (served.clone(), refused_handshakes.clone(), peers.clone());
        tokio::spawn(async move {
            while let Ok((tcp, peer)) = listener.accept().await {
                accepted.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(peer);
                let (acceptor, count, refused) = (acceptor.clone(), count.clone(), refused.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        refused.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let app = axum::Router::new().fallback(move || {
                        let count = count.clone();
                        async move {
                            count.fetch_add(1, Ordering::SeqCst);
                            StatusCode::NO_CONTENT
                        }
                    });
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Self { addr, served, refused_handshakes, peers }
    }

    /// `https://localhost:<port>/hook`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/hook", self.addr.port())
    }

    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    pub fn refused_handshakes(&self) -> usize {
        self.refused_handshakes.load(Ordering::SeqCst)
    }

    /// The addresses its connections came from, in the order they were accepted.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
