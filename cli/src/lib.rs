//! The `kiln` command line's library half: what `kiln inspect` shows and how reports print
//! as JSON (serde lives here, not in the compiler).
#![warn(missing_docs)]

pub mod compare;
pub mod html;
pub mod inspect;
pub mod profile;
pub mod report;
