//! The process's one TLS crypto provider.
//!
//! reqwest (webhooks, and object_store's S3 client) and the token signing (jsonwebtoken) all
//! use `ring`. reqwest and object_store are built without a provider of their own (their
//! defaults would compile aws-lc, a second crypto library in C, beside ring), so the provider
//! is installed here before any HTTP client is built.

/// Installs `ring` as the process-wide rustls provider; later calls (and a provider installed
/// by someone else first) change nothing.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_provider_is_installed_once_and_is_ring() {
        super::install_provider();
        super::install_provider();
        let p = rustls::crypto::CryptoProvider::get_default().expect("installed");
        assert!(!p.cipher_suites.is_empty());
    }
}
