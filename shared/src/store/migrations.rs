//! Versioned schema migrations (skeleton).
