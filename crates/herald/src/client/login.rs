//! `herald login` and `herald logout`: save or forget the server, key and default tenant.

use std::io::IsTerminal;

use herald_api::PageParams;
use herald_api::event_types::CatalogFilter;
use herald_client::Client;

use super::profile::{self, Profile};
use super::{Failure, Output};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The Herald server, e.g. https://herald.example.com.
    #[arg(long, env = "HERALD_URL", value_name = "URL")]
    pub server: Option<String>,
    /// The API key. Default: asked for on a terminal (not echoed), else read from standard input.
    #[arg(long, env = "HERALD_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// The tenant commands act on when they are given none (needed with a tenant's key).
    #[arg(long, short = 't', value_name = "TENANT")]
    pub tenant: Option<String>,
}

pub async fn login(args: LoginArgs) -> Result<(), Failure> {
    let path = profile::path()?;
    let saved = profile::load(&path)?;
    let url = args
        .server
        .or(saved.url)
        .ok_or_else(|| Failure::usage("which server? pass --server (e.g. --server http://127.0.0.1:8080)"))?;
    let key = match args.api_key {
        Some(key) => key,
        None => read_key()?,
    };
    let client = Client::new(&url, &key)?;
    // Any valid key may read the event catalog: this checks the server and the key.
    client
        .event_types()
        .list(&CatalogFilter::default(), &PageParams { limit: Some(1), cursor: None })
        .await
        .map_err(|e| match e.status() {
            Some(401) => Failure { code: Failure::API, message: Some(format!("{url} refused this API key")) },
            _ => e.into(),
        })?;
    let admin = match client.tenants().list(&PageParams { limit: Some(1), cursor: None }).await {
        Ok(_) => true,
        Err(e) if e.status() == Some(403) => false,
        Err(e) => return Err(e.into()),
    };
    if let Some(tenant) = &args.tenant {
        client.tenants().get(tenant).await?;
    }
    let profile = Profile { url: Some(url.clone()), api_key: Some(key), tenant: args.tenant.clone() };
    profile::save(&path, &profile)?;
    let kind = if admin { "an admin key" } else { "a tenant key" };
    eprintln!("Logged in to {url} with {kind}; saved in {} (readable by you only).", path.display());
    if !admin && args.tenant.is_none() {
        eprintln!("A tenant key acts on its own tenant only: add --tenant, or log in again with --tenant.");
    }
    Ok(())
}

fn read_key() -> Result<String, Failure> {
    let key = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("API key: ")
            .map_err(|e| Failure::usage(format!("cannot read the key: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Failure::usage(format!("cannot read the key from standard input: {e}")))?;
        line
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(Failure::usage("no API key given"));
    }
    Ok(key)
}

pub fn logout(out: &Output) -> Result<(), Failure> {
    let path = profile::path()?;
    let message =
        if profile::remove(&path)? { "Logged out: the saved key is deleted." } else { "Not logged in." };
    if out.json {
        return Ok(());
    }
    eprintln!("{message}");
    Ok(())
}
