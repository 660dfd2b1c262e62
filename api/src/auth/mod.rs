//! Authentication: password hashing, access tokens, refresh tokens and the signed-in-user
//! extractor.

pub mod acting;
pub mod jwt;
pub mod password;
pub mod session;
pub mod sign_in;

pub use acting::Acting;
pub use jwt::{Claims, JwtKeys};
pub use session::{AuthedUser, RequireAdmin};

/// A random opaque token (256 bits, base64url without padding).
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
