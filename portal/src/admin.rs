//! The admin center's gate: an argon2 password hash, per-IP login limits, sessions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::PortalError;
use crate::options::AdminOptions;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "nomp_admin";

/// The argon2id hash (PHC string) of `password` with a fresh random salt: what
/// `AdminOptions::password_hash` takes.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system has a random source");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("default argon2 parameters hash any password")
        .to_string()
}

/// Checks that `hash` is an argon2 hash in PHC form.
pub fn check_password_hash(hash: &str) -> Result<(), PortalError> {
    let parsed = PasswordHash::new(hash).map_err(|e| PortalError::AdminHash(e.to_string()))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(PortalError::AdminHash(format!(
            "{} is not an argon2 hash",
            parsed.algorithm
        )));
    }
    Ok(())
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Too many attempts from this IP; try again later.
    Limited,
    /// The password is wrong.
    Wrong,
}

/// The admin gate.
pub(crate) struct Admin {
    hash: String,
    lifetime: Duration,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    sessions: Mutex<HashMap<String, Instant>>,
}

impl Admin {
    /// Checks the configured hash is a valid argon2 PHC string.
    pub(crate) fn new(options: &AdminOptions) -> Result<Admin, PortalError> {
        check_password_hash(&options.password_hash)?;
        let per_minute =
            NonZeroU32::new(options.attempts_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Ok(Admin {
            hash: options.password_hash.clone(),
            lifetime: options.session_lifetime,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// Checks `password` from `ip`; on success returns a new session token. Every attempt,
    /// right or wrong, counts against the IP's limit.
    pub(crate) async fn login(&self, ip: IpAddr, password: &str) -> Result<String, Refusal> {
        if self.limiter.check_key(&ip).is_err() {
            tracing::warn!(%ip, "admin login refused: too many attempts");
            return Err(Refusal::Limited);
        }
        let hash = self.hash.clone();
        let password = password.to_owned();
        // argon2 is slow on purpose: keep it off the reactor.
        let right = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        if !right {
            tracing::warn!(%ip, "admin login refused: wrong password");
            return Err(Refusal::Wrong);
        }
        let token = new_token();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, expires| *expires > now);
        sessions.insert(token.clone(), now + self.lifetime);
        tracing::info!(%ip, "admin logged in");
        Ok(token)
    }

    /// Whether `token` is a live session.
    pub(crate) fn is_session(&self, token: &str) -> bool {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Ends the session `token`.
    pub(crate) fn logout(&self, token: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }
}

/// 256 random bits as hex.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system has a random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session token in a `Cookie` header, if any.
pub(crate) fn session_token(cookies: &str) -> Option<&str> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(password: &str) -> String {
        let hashed = hash_password(password);
        assert_ne!(hashed, hash_password(password), "salts are fresh");
        hashed
    }

    #[tokio::test]
    async fn the_right_password_opens_a_session_and_the_limit_stops_guessing() {
        let mut options = AdminOptions::new(hash("correct horse"));
        options.attempts_per_minute = 3;
        let admin = Admin::new(&options).unwrap();
        let ip = IpAddr::from([192, 0, 2, 1]);
        assert_eq!(admin.login(ip, "guess").await, Err(Refusal::Wrong));
        let token = admin.login(ip, "correct horse").await.unwrap();
        assert!(admin.is_session(&token));
        assert!(!admin.is_session("not-a-token"));
        assert_eq!(admin.login(ip, "guess").await, Err(Refusal::Wrong));
        assert_eq!(
            admin.login(ip, "correct horse").await,
            Err(Refusal::Limited),
            "the fourth attempt in a minute is refused even with the right password"
        );
        let other = IpAddr::from([192, 0, 2, 2]);
        assert!(admin.login(other, "correct horse").await.is_ok());
        admin.logout(&token);
        assert!(!admin.is_session(&token));
    }

    #[test]
    fn only_argon2_hashes_are_accepted() {
        assert!(Admin::new(&AdminOptions::new("hunter2")).is_err());
        assert!(Admin::new(&AdminOptions::new("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA")).is_err());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(session_token("a=1; nomp_admin=abc; b=2"), Some("abc"));
        assert_eq!(session_token("nomp_admin_x=1"), None);
    }
}
