//! The names sessions are kept under in the store's per-user index: a
//! user of the application, or one of the reserved names this crate gives
//! to what is not one (an anonymous visitor, a provider's subject signed
//! in through single sign-on, the index entries that find those sessions
//! again). A reserved name starts with a control character, which no
//! login may use ([`Error::ReservedUserId`](crate::Error::ReservedUserId)),
//! so none can be taken for a user's.

/// What every reserved name starts with.
const RESERVED: char = '\u{1}';

/// Whether `user_id` is a reserved name, which a login may not take.
pub(crate) fn is_reserved(user_id: &str) -> bool {
    user_id.starts_with(RESERVED)
}

/// The owner of an anonymous visitor's session `id`: a name of its own, so
/// it counts toward no user's limit and shows in no user's device list.
pub(crate) fn visitor(id: &crate::token::SessionId) -> String {
    format!("{RESERVED}visitor:{id}")
}

const EXTERNAL: &str = "\u{1}ext:";

/// The owner of the sessions of `subject` of provider `issuer` that the
/// application did not map to a user of its own. The issuer is a URL,
/// without control characters, so the separator after it is unambiguous.
#[cfg_attr(not(feature = "oidc"), allow(dead_code))]
pub(crate) fn external(issuer: &str, subject: &str) -> String {
    format!("{EXTERNAL}{issuer}{RESERVED}{subject}")
}

/// The issuer and subject of an [`external`] owner name; `None` for any
/// other.
pub(crate) fn parse_external(owner: &str) -> Option<(&str, &str)> {
    owner.strip_prefix(EXTERNAL)?.split_once(RESERVED)
}

/// The owner of the index entries that find the sessions signed in with
/// provider `issuer`'s subject `subject` (a back-channel logout names it).
#[cfg_attr(not(feature = "oidc"), allow(dead_code))]
pub(crate) fn provider_subject(issuer: &str, subject: &str) -> String {
    format!("{RESERVED}sso-sub:{issuer}{RESERVED}{subject}")
}

/// The owner of the index entries that find the sessions signed in during
/// provider `issuer`'s session `sid`.
#[cfg_attr(not(feature = "oidc"), allow(dead_code))]
pub(crate) fn provider_session(issuer: &str, sid: &str) -> String {
    format!("{RESERVED}sso-sid:{issuer}{RESERVED}{sid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_names_round_trip_and_are_reserved() {
        let owner = external("https://sso.example/realms/a", "alice\u{1}x");
        assert!(is_reserved(&owner));
        assert_eq!(
            parse_external(&owner),
            Some(("https://sso.example/realms/a", "alice\u{1}x"))
        );
        assert_eq!(parse_external("alice"), None);
        assert_eq!(
            parse_external(&provider_subject("https://i", "alice")),
            None
        );
        assert!(!is_reserved("alice"));
    }
}
