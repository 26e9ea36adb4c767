//! The database password for a store URL that has none: from the
//! environment or a file it names (a Docker or Kubernetes secret), so it
//! never has to be in a URL, a config file or a log line.

use crate::store::StoreError;

/// The environment variable holding the database password.
pub const PASSWORD_ENV: &str = "TICKFLOW_STORE_PASSWORD";
/// The environment variable naming a file that holds the database password.
pub const PASSWORD_FILE_ENV: &str = "TICKFLOW_STORE_PASSWORD_FILE";

/// `TICKFLOW_STORE_PASSWORD`, or the first line of the file
/// `TICKFLOW_STORE_PASSWORD_FILE` names, as `env` looks variables up.
pub fn from(env: impl Fn(&str) -> Option<String>) -> Result<Option<String>, StoreError> {
    if let Some(password) = env(PASSWORD_ENV) {
        return Ok(Some(password));
    }
    let Some(path) = env(PASSWORD_FILE_ENV) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io { path: path.clone(), source })?;
    Ok(Some(text.lines().next().unwrap_or_default().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_comes_from_the_variable_or_the_file_it_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").expect("write");
        let file = file.display().to_string();
        let env = |vars: Vec<(&'static str, String)>| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        };
        assert_eq!(from(env(vec![])).expect("none"), None);
        assert_eq!(from(env(vec![(PASSWORD_FILE_ENV, file.clone())])).expect("file").as_deref(), Some("s3cret"));
        let both = env(vec![(PASSWORD_ENV, "direct".into()), (PASSWORD_FILE_ENV, file)]);
        assert_eq!(from(both).expect("variable").as_deref(), Some("direct"));
        let missing = from(env(vec![(PASSWORD_FILE_ENV, "/nonexistent/password".into())]));
        assert!(missing.expect_err("missing file").to_string().contains("/nonexistent/password"));
    }
}
