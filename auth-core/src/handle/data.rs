//! The application's data in a session: typed reads and writes, saved with
//! the response, merged with other requests' changes on a conflict.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AuthHandle;
use crate::error::Error;
use crate::record::{SessionData, SessionKind, SessionRecord};
use crate::store::StoreError;

/// How many times a data save re-reads and re-applies its changes after
/// losing a race with another request on the same session.
const SAVE_ATTEMPTS: usize = 3;

impl AuthHandle {
    /// Reads a value from the session's data: the caller's session, or an
    /// anonymous visitor's (`None` when the visitor has none yet).
    /// [`Error::NoSession`] for a caller without a session (an access
    /// token).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let state = self.shared.state.lock();
        let stored = match state.data_session() {
            Some(session) => session.record.data.get_value(key),
            None if state.identity.is_none() => None,
            None => return Err(Error::NoSession),
        };
        let value = match state.changes.get(key) {
            Some(changed) => changed.as_ref(),
            None => stored,
        };
        value
            .map(|v| T::deserialize(v).map_err(Error::Data))
            .transpose()
    }

    /// Sets a value in the session's data; saved with the response. For an
    /// anonymous visitor without a session, the first write starts a
    /// [visitor's session](AuthHandle#before-the-login).
    pub fn insert<T: Serialize>(&self, key: &str, value: &T) -> Result<(), Error> {
        let value = serde_json::to_value(value).map_err(Error::Data)?;
        let mut state = self.shared.state.lock();
        if !state.may_write_data() {
            return Err(Error::NoSession);
        }
        state.changes.insert(key.to_owned(), Some(value));
        Ok(())
    }

    /// The keys of the session's data (the caller's or the visitor's) that
    /// start with `prefix`, as this request leaves them.
    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    pub(crate) fn data_keys(&self, prefix: &str) -> Vec<String> {
        let state = self.shared.state.lock();
        let stored = state.data_session().map(|s| &s.record.data);
        let mut keys: Vec<String> = stored
            .into_iter()
            .flat_map(SessionData::keys)
            .filter(|k| k.starts_with(prefix) && state.changes.get(*k) != Some(&None))
            .map(str::to_owned)
            .collect();
        for (key, value) in &state.changes {
            if key.starts_with(prefix) && value.is_some() && !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        keys
    }

    /// Removes a value from the session's data; saved with the response.
    pub fn remove(&self, key: &str) -> Result<(), Error> {
        let mut state = self.shared.state.lock();
        if !state.may_write_data() {
            return Err(Error::NoSession);
        }
        state.changes.insert(key.to_owned(), None);
        Ok(())
    }

    /// Saves pending data changes now. On a concurrent change by another
    /// request, re-reads the session and re-applies only this request's
    /// changes, so neither request's keys are lost. A session that ended
    /// meanwhile takes the changes with it. An anonymous visitor's first
    /// data starts a visitor's session; a visitor's session whose data is
    /// all removed ends.
    pub async fn save(&self) -> Result<(), Error> {
        self.save_taking(None).await.map(|_| ())
    }

    /// [`save`](Self::save), for a request that removes `taking` to take
    /// what it held once: `false` when another request removed it first
    /// (seen on a conflict) or the session ended meanwhile, so the value
    /// this request read is another's to use.
    pub(crate) async fn save_taking(&self, taking: Option<&str>) -> Result<bool, Error> {
        let store = &self.auth.inner.store;
        let mut taken = true;
        for _ in 0..SAVE_ATTEMPTS {
            let (record, changes) = {
                let state = self.shared.state.lock();
                if state.changes.is_empty() {
                    return Ok(taken);
                }
                let record = state
                    .data_session()
                    .map(|s| SessionRecord::clone(&s.record));
                if record.is_none() && !state.may_write_data() {
                    return Ok(taken);
                }
                (record, state.changes.clone())
            };
            let Some(mut record) = record else {
                self.start_visit(changes).await?;
                return Ok(taken);
            };
            apply_changes(&mut record.data, &changes);
            check_size(&record.data, self.auth.inner.max_data_bytes)?;
            // Versioned even when a visitor's session is about to end, so
            // that of two requests taking its last key one wins.
            match store.update(&record).await {
                Ok(version) => {
                    record.version = version;
                    if record.kind == SessionKind::Visitor && record.data.is_empty() {
                        self.end_visit(&record).await?;
                        return Ok(taken);
                    }
                    let mut state = self.shared.state.lock();
                    if let Some(session) = state.data_session_mut()
                        && session.record.id == record.id
                    {
                        session.record = Arc::new(record);
                    }
                    state.changes.retain(|k, v| changes.get(k) != Some(v));
                    return Ok(taken);
                }
                Err(StoreError::Conflict) => match store.load(&record.key()).await? {
                    Some(fresh) => {
                        if let Some(key) = taking
                            && fresh.data.get_value(key).is_none()
                        {
                            taken = false;
                        }
                        let mut state = self.shared.state.lock();
                        if let Some(session) = state.data_session_mut() {
                            session.record = Arc::new(fresh);
                        }
                    }
                    None => {
                        self.drop_changes();
                        return Ok(false);
                    }
                },
                Err(StoreError::NotFound) => {
                    self.drop_changes();
                    return Ok(false);
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    fn drop_changes(&self) {
        tracing::debug!("session ended before its data was saved; changes dropped");
        self.shared.state.lock().changes.clear();
    }
}

pub(super) fn apply_changes(data: &mut SessionData, changes: &BTreeMap<String, Option<Value>>) {
    for (k, v) in changes {
        data.set_value(k, v.clone());
    }
}

pub(super) fn check_size(data: &SessionData, limit: usize) -> Result<(), Error> {
    if data.is_empty() {
        return Ok(());
    }
    let size = serde_json::to_vec(data).map_err(Error::Data)?.len();
    if size > limit {
        return Err(Error::DataTooLarge { limit });
    }
    Ok(())
}
