//! The index entries that find the sessions signed in through a provider
//! again when it announces that its user or its session logged out: one
//! filed under the provider's subject, one under the provider's session
//! (`sid`) when the ID token had one, each naming the session. They are
//! ordinary records of kind [`Link`](crate::SessionKind::Link), so every
//! store keeps them, expires them with the session, and lists them by
//! owner; they carry no cookie and authenticate no one.

use super::sign_in::{SIGN_IN_KEY, SignIn};
use crate::authenticator::Authenticator;
use crate::error::Error;
use crate::identity::Identity;
use crate::record::{SessionData, SessionKind, SessionRecord};
use crate::token::{SessionId, SessionToken};

/// The key in a link's data that names its session.
const SESSION_KEY: &str = "session";

/// Files the session of `identity`, just signed in with `sign_in`, under
/// the provider's subject and session.
pub(super) async fn file(
    auth: &Authenticator,
    sign_in: &SignIn,
    identity: &Identity,
) -> Result<(), Error> {
    let Some(session) = identity.session_id() else {
        return Ok(());
    };
    let mut owners = vec![crate::owner::provider_subject(
        &sign_in.issuer,
        &sign_in.subject,
    )];
    if let Some(sid) = &sign_in.sid {
        owners.push(crate::owner::provider_session(&sign_in.issuer, sid));
    }
    let now = auth.now();
    let expires_at = identity.expires_at();
    for owner in owners {
        let mut data = SessionData::new();
        data.set_value(SESSION_KEY, Some(session.as_str().into()));
        // The token is thrown away: nothing can present a link.
        let token = SessionToken::generate()?;
        let record = SessionRecord {
            data,
            ..SessionRecord::new(
                token.key().id(),
                owner,
                SessionKind::Link,
                token.verifier(),
                now,
                expires_at,
            )
        };
        auth.inner.store.create(&record).await?;
    }
    Ok(())
}

/// Ends the sessions filed under the provider's session `sid` when it is
/// given, else under its subject `subject`, with their access tokens, on
/// every instance; removes their links. How many sessions ended.
pub(super) async fn end_filed(
    auth: &Authenticator,
    issuer: &str,
    sid: Option<&str>,
    subject: Option<&str>,
) -> Result<usize, Error> {
    let owner = match (sid, subject) {
        (Some(sid), _) => crate::owner::provider_session(issuer, sid),
        (None, Some(subject)) => crate::owner::provider_subject(issuer, subject),
        (None, None) => return Ok(0),
    };
    let store = &auth.inner.store;
    let mut ended = 0;
    for link in store.list_user(&owner).await? {
        if link.kind != SessionKind::Link {
            continue;
        }
        let session = link
            .data
            .get_value(SESSION_KEY)
            .and_then(|v| v.as_str())
            .and_then(|id| id.parse::<SessionId>().ok());
        if let Some(session) = session {
            if sid.is_some()
                && let Some(subject) = subject
                && !belongs_to(auth, &session, issuer, subject).await?
            {
                continue;
            }
            if auth.end_session(&session.key()).await? {
                ended += 1;
            }
        }
        store.delete(&link.key()).await?;
    }
    Ok(ended)
}

/// Whether `session` was signed in as `issuer`'s `subject` (a logout
/// token naming both must match both); a session already gone does.
async fn belongs_to(
    auth: &Authenticator,
    session: &SessionId,
    issuer: &str,
    subject: &str,
) -> Result<bool, Error> {
    let Some(record) = auth.inner.store.load(&session.key()).await? else {
        return Ok(true);
    };
    let sign_in: Option<SignIn> = record
        .data
        .get_value(SIGN_IN_KEY)
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    Ok(sign_in.is_some_and(|s| s.issuer == issuer && s.subject == subject))
}
