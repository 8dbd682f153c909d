//! The saved login: server URL, API key and default tenant, in `herald/cli.toml` under the user's
//! configuration directory (`$XDG_CONFIG_HOME` or `~/.config` on Linux), readable by the user
//! only (mode 0600, in a 0700 directory).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Failure;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    pub api_key: Option<String>,
    /// The tenant client commands act on when `--tenant` is not given.
    pub tenant: Option<String>,
}

/// Where the profile lives.
pub fn path() -> Result<PathBuf, Failure> {
    dirs::config_dir()
        .map(|dir| dir.join("herald").join("cli.toml"))
        .ok_or_else(|| Failure::other("no configuration directory: set HOME or XDG_CONFIG_HOME"))
}

/// The saved profile, or an empty one when there is none.
pub fn load(path: &Path) -> Result<Profile, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| Failure::other(format!("{} is not a valid login file: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profile::default()),
        Err(e) => Err(Failure::other(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Writes the profile so that only the user can read it; the file is replaced atomically.
pub fn save(path: &Path, profile: &Profile) -> Result<(), Failure> {
    let fail =
        |what: &str, e: std::io::Error| Failure::other(format!("cannot {what} {}: {e}", path.display()));
    let dir = path.parent().ok_or_else(|| Failure::other("the login file has no directory"))?;
    create_private_dir(dir).map_err(|e| fail("create the directory of", e))?;
    let text = toml::to_string(profile).map_err(|e| Failure::other(e.to_string()))?;
    let temporary = path.with_extension("toml.tmp");
    write_private(&temporary, text.as_bytes()).map_err(|e| fail("write", e))?;
    std::fs::rename(&temporary, path).map_err(|e| fail("write", e))
}

/// Removes the saved login; `false` when there was none.
pub fn remove(path: &Path) -> Result<bool, Failure> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure::other(format!("cannot remove {}: {e}", path.display()))),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    // The mode above is filtered by the umask; the file must be 0600 whatever the umask.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
