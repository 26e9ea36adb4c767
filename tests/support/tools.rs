//! The outside tools the deployment tests run (docker-compose, kubectl,
//! kubernetes-validate, prometheus, promtool, python3), found on PATH or
//! the test fails saying how to install it: these tests never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The path of `name` on PATH (or in /usr/bin, where Debian puts it).
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            let install = match name {
                "docker-compose" => "apt-get install docker-compose",
                "prometheus" | "promtool" => "apt-get install prometheus",
                "kubernetes-validate" => "python3 -m pip install kubernetes-validate",
                "kubectl" => "install kubectl (it renders k8s/ with `kubectl kustomize`)",
                _ => "install it",
            };
            panic!("the deployment tests need {name} on PATH: {install} (.ci/run does)")
        })
}

/// Runs `command`, asserts success and returns its output.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?} does not run: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Copies the files and directories `paths` of the repository into `dest`,
/// following links (so `tickflow.toml` arrives as the file it points to).
pub fn copy_repo_paths(dest: &Path, paths: &[&str]) {
    for path in paths {
        copy(&repo().join(path), &dest.join(path));
    }
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

/// The compose file as `docker-compose config` resolves it, in a copy of
/// the repository's deployment files with `.env` made from `.env.example`.
pub fn resolved_compose() -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_repo_paths(dir.path(), &["docker-compose.yml", "tickflow.toml", "deploy", ".env.example"]);
    std::fs::copy(dir.path().join(".env.example"), dir.path().join(".env")).expect(".env");
    let output = run_ok(Command::new(tool("docker-compose")).arg("config").current_dir(dir.path()));
    serde_yaml_ng::from_slice(&output.stdout).expect("docker-compose config prints YAML")
}
