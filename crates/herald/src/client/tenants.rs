//! `herald tenants …` and `herald keys …`.

use herald_api::keys::ApiKeyIn;
use herald_api::portal::PortalSessionIn;
use herald_api::tenants::{TenantIn, TenantOut, TenantPatch};
use serde_json::{Value, json};

use super::output::time;
use super::{Connection, Failure, Paging, Session, TenantArg, collect, pairs, print_list, request};

#[derive(Debug, clap::Args)]
pub struct TenantsArgs {
    #[command(subcommand)]
    pub command: TenantsCommand,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, clap::Subcommand)]
pub enum TenantsCommand {
    /// List tenants, newest first (admin key).
    List(Paging),
    /// Show a tenant.
    Get { tenant: String },
    /// Create a tenant (admin key).
    Create {
        /// A name shown to people.
        #[arg(long)]
        name: String,
        /// Your own identifier for it, usable instead of its id.
        #[arg(long)]
        uid: Option<String>,
        /// Metadata, KEY=VALUE (repeatable).
        #[arg(long = "metadata", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Change a tenant's name, uid or metadata (admin key).
    Update {
        tenant: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new uid.
        #[arg(long, conflicts_with = "clear_uid")]
        uid: Option<String>,
        /// Remove the uid.
        #[arg(long)]
        clear_uid: bool,
        /// Replaces the metadata, KEY=VALUE (repeatable).
        #[arg(long = "metadata", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Delete a tenant and everything it owns (admin key).
    Delete {
        tenant: String,
        /// Needed: deleting a tenant deletes its keys, endpoints, events and deliveries.
        #[arg(long)]
        yes: bool,
    },
    /// A tenant's deliveries in flight, waiting and undecided, and its limits.
    Stats { tenant: String },
    /// A one-time link into the tenant's pages of the web interface (admin key).
    PortalLink {
        tenant: String,
        /// How long the link may be opened (1m to 1h).
        #[arg(long, default_value = "10m")]
        expires_in: String,
    },
}

pub async fn run(args: TenantsArgs) -> Result<(), Failure> {
    let session = Session::open(&args.connection)?;
    let tenants = session.client.tenants();
    let out = &session.out;
    match args.command {
        TenantsCommand::List(paging) => {
            let (items, next) = collect(&paging, tenants.list(&paging.params()), || tenants.stream()).await?;
            print_list(out, &items, next, &["ID", "UID", "NAME", "CREATED"], |t: &TenantOut| {
                vec![
                    t.id.to_string(),
                    t.uid.as_ref().map_or("-".into(), |u| u.as_str().to_owned()),
                    t.name.clone(),
                    time(&t.created_at),
                ]
            })
        }
        TenantsCommand::Get { tenant } => out.document(&tenants.get(&tenant).await?),
        TenantsCommand::Create { name, uid, metadata } => {
            let mut body = json!({"name": name, "metadata": pairs(&metadata, "metadata")?});
            if let Some(uid) = uid {
                body["uid"] = Value::String(uid);
            }
            let created = tenants.create(&request::<TenantIn>("tenant", body)?).await?;
            out.document(&created)
        }
        TenantsCommand::Update { tenant, name, uid, clear_uid, metadata } => {
            let mut body = serde_json::Map::new();
            if let Some(name) = name {
                body.insert("name".into(), Value::String(name));
            }
            if let Some(uid) = uid {
                body.insert("uid".into(), Value::String(uid));
            } else if clear_uid {
                body.insert("uid".into(), Value::Null);
            }
            if !metadata.is_empty() {
                body.insert("metadata".into(), Value::Object(pairs(&metadata, "metadata")?));
            }
            if body.is_empty() {
                return Err(Failure::usage(
                    "nothing to change: pass --name, --uid, --clear-uid or --metadata",
                ));
            }
            let patch: TenantPatch = request("change", Value::Object(body))?;
            out.document(&tenants.update(&tenant, &patch).await?)
        }
        TenantsCommand::Delete { tenant, yes } => {
            if !yes {
                return Err(Failure::usage(format!(
                    "deleting tenant {tenant} deletes all it owns; add --yes to do it"
                )));
            }
            tenants.delete(&tenant).await?;
            eprintln!("Deleted tenant {tenant}.");
            Ok(())
        }
        TenantsCommand::Stats { tenant } => out.document(&tenants.stats(&tenant).await?),
        TenantsCommand::PortalLink { tenant, expires_in } => {
            let input: PortalSessionIn = request("portal link", json!({"expiresIn": expires_in}))?;
            let link = session.client.portal_sessions(&tenant).create(&input).await?;
            if out.json {
                return out.json(&link);
            }
            out.line(&link.url)?;
            eprintln!("{}", out.dim(&format!("opens once, until {}", time(&link.expires_at))));
            Ok(())
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub tenant: TenantArg,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List the tenant's API keys (admin key).
    List(Paging),
    /// Create an API key for the tenant; the key is printed once (admin key).
    Create {
        /// What the key is for.
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a key: it stops working at once (admin key).
    Revoke { key: String },
}

pub async fn run_keys(args: KeysArgs) -> Result<(), Failure> {
    let session = Session::open(&args.connection)?;
    let keys = session.client.keys(session.tenant(&args.tenant)?);
    let out = &session.out;
    match args.command {
        KeysCommand::List(paging) => {
            let (items, next) = collect(&paging, keys.list(&paging.params()), || keys.stream()).await?;
            print_list(out, &items, next, &["ID", "NAME", "PREFIX", "CREATED"], |k| {
                vec![k.id.to_string(), k.name.clone(), k.prefix.clone(), time(&k.created_at)]
            })
        }
        KeysCommand::Create { name } => {
            let created = keys.create(&ApiKeyIn { name }).await?;
            if out.json {
                return out.json(&created);
            }
            out.line(&created.key)?;
            eprintln!(
                "{}",
                out.dim(&format!("key {} — shown only this once; store it safely", created.api_key.id))
            );
            Ok(())
        }
        KeysCommand::Revoke { key } => {
            keys.revoke(&key).await?;
            eprintln!("Revoked key {key}.");
            Ok(())
        }
    }
}
