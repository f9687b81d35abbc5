//! The response as the exchange edits it after the handler.

/// A `Cache-Control` value the exchange sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheControl {
    /// `no-store`: the answer sets or removes a credential.
    NoStore,
    /// `private`: the answer depends on who asked.
    Private,
}

impl CacheControl {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoStore => "no-store",
            Self::Private => "private",
        }
    }
}

/// A framework's response, as an adapter shows it to the
/// [`Exchange`](super::Exchange) for [`respond`](super::Exchange::respond).
pub trait Response {
    /// Appends a `Set-Cookie` header. The value is a valid header value.
    fn append_set_cookie(&mut self, cookie: String);

    /// Appends `Vary` with the exchange's [`vary`](super::Exchange::vary)
    /// value (every header the credentials are read from), which adapters
    /// parse once rather than per request.
    fn append_vary(&mut self);

    /// Sets `Cache-Control` to `value`: in place of what the handler set
    /// when `replace`, otherwise only if the handler set none.
    fn set_cache_control(&mut self, value: CacheControl, replace: bool);
}
