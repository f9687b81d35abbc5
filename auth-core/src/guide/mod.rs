//! The guide: chapters on what this crate does and why, beside the
//! reference. Each chapter is a module of its own, holding only its text.

// The chapters name items as the crate root does.
#[allow(unused_imports)]
use crate::*;

#[doc = include_str!("concepts.md")]
pub mod concepts {}

#[doc = include_str!("request_flow.md")]
pub mod request_flow {}

#[doc = include_str!("defaults.md")]
pub mod defaults {}

#[doc = include_str!("day_two.md")]
pub mod day_two {}

#[cfg(feature = "oidc")]
#[doc = include_str!("single_sign_on.md")]
pub mod single_sign_on {}

#[cfg(feature = "oidc")]
#[doc = include_str!("several_instances.md")]
pub mod several_instances {}

#[doc = include_str!("threat_model.md")]
pub mod threat_model {}

#[doc = include_str!("writing_a_store.md")]
pub mod writing_a_store {}

#[doc = include_str!("writing_an_adapter.md")]
pub mod writing_an_adapter {}
