//! Sessions of anonymous visitors: created on the first write of data,
//! ended when their data is gone or at login, where the app's chosen keys
//! are carried into the new session.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::data::{apply_changes, check_size};
use super::{AuthHandle, CookieAction, Current};
use crate::error::Error;
use crate::record::{SessionData, SessionKind, SessionLifetime, SessionRecord};
use crate::token::SessionToken;

impl AuthHandle {
    /// Starts an anonymous visitor's session holding `changes`, and
    /// schedules its cookie (a browser-session cookie). Nothing is stored
    /// when the changes only remove keys.
    pub(super) async fn start_visit(
        &self,
        changes: BTreeMap<String, Option<Value>>,
    ) -> Result<(), Error> {
        let mut data = SessionData::new();
        apply_changes(&mut data, &changes);
        if data.is_empty() {
            self.shared.state.lock().changes.clear();
            return Ok(());
        }
        let inner = &self.auth.inner;
        check_size(&data, inner.max_data_bytes)?;
        let token = SessionToken::generate()?;
        let now = self.auth.now();
        let (idle, absolute) = inner.lifetimes_of(SessionLifetime::Visitor);
        let absolute_expires_at = now + absolute;
        let id = token.key().id();
        let record = SessionRecord {
            idle_expires_at: (now + idle).min(absolute_expires_at),
            data,
            // A visitor is in no device list: nothing about the client is
            // kept.
            lifetime: SessionLifetime::Visitor,
            ..SessionRecord::new(
                id.clone(),
                crate::owner::visitor(&id),
                SessionKind::Visitor,
                token.verifier(),
                now,
                absolute_expires_at,
            )
        };
        inner.store.create(&record).await?;
        tracing::debug!(session = %record.id, "visitor session started");
        let mut state = self.shared.state.lock();
        state.visitor = Some(Current {
            token,
            record: Arc::new(record),
        });
        state.cookie = CookieAction::Set;
        state.changes.retain(|k, v| changes.get(k) != Some(v));
        Ok(())
    }

    /// Ends the visitor's session `record`, whose data is all gone (saved
    /// so), and removes its cookie.
    pub(super) async fn end_visit(&self, record: &SessionRecord) -> Result<(), Error> {
        self.auth.inner.store.delete(&record.key()).await?;
        tracing::debug!(session = %record.id, "visitor session ended: no data left");
        let mut state = self.shared.state.lock();
        state.visitor = None;
        state.changes.clear();
        state.cookie = CookieAction::Remove;
        Ok(())
    }

    /// The values of `keys` in the visitor's data as this request left it,
    /// for the session a login starts.
    pub(super) fn visitor_data(&self, keys: &[String]) -> Vec<(String, Value)> {
        if keys.is_empty() {
            return Vec::new();
        }
        let state = self.shared.state.lock();
        if state.current.is_some() {
            return Vec::new();
        }
        let stored = state.visitor.as_ref().map(|v| &v.record.data);
        keys.iter()
            .filter_map(|key| {
                let value = match state.changes.get(key) {
                    Some(changed) => changed.clone(),
                    None => stored.and_then(|d| d.get_value(key)).cloned(),
                }?;
                Some((key.clone(), value))
            })
            .collect()
    }
}
