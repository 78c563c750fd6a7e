//! Readiness: written by the provider actors (store writes) and startup (loaded), read by
//! `/readyz` and `/metrics`. A leaf module, so every layer may use it.

use std::sync::atomic::{AtomicBool, Ordering};

/// `/readyz`: state loaded, and the last write (if any) did not fail.
#[derive(Debug, Default)]
pub struct Readiness {
    loaded: AtomicBool,
    store_failed: AtomicBool,
}

impl Readiness {
    pub fn set_loaded(&self) {
        self.loaded.store(true, Ordering::SeqCst);
    }
    pub fn store_failed(&self) {
        self.store_failed.store(true, Ordering::SeqCst);
    }
    pub fn store_succeeded(&self) {
        self.store_failed.store(false, Ordering::SeqCst);
    }
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }
    pub fn last_write_failed(&self) -> bool {
        self.store_failed.load(Ordering::SeqCst)
    }
}
