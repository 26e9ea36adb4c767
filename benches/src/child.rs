//! A child process that is killed and reaped when dropped, so that a
//! benchmark or test that fails half-way leaves no service running.

use std::process::Child;

/// A running child process; dropping it kills and reaps it.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
