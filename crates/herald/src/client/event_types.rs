//! `herald event-types …`: the event catalog.

use herald_api::event_types::{CatalogFilter, EventTypeIn, EventTypeOut, EventTypePatch};
use serde_json::{Map, Value};

use super::{Connection, Failure, Paging, Session, collect, print_list, read_json, request};

#[derive(Debug, clap::Args)]
pub struct EventTypesArgs {
    #[command(subcommand)]
    pub command: EventTypesCommand,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventTypesCommand {
    /// List the catalog, by name.
    List {
        /// Include deprecated types.
        #[arg(long)]
        deprecated: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show an event type with its schema and example.
    Get { name: String },
    /// Add an event type to the catalog (admin key).
    Create {
        /// e.g. invoice.paid
        name: String,
        #[command(flatten)]
        fields: TypeFields,
        /// Mark it deprecated.
        #[arg(long)]
        deprecated: bool,
    },
    /// Change an event type (admin key).
    Update {
        name: String,
        #[command(flatten)]
        fields: TypeFields,
        /// Remove the schema.
        #[arg(long, conflicts_with = "schema")]
        clear_schema: bool,
        /// Remove the example.
        #[arg(long, conflicts_with = "example")]
        clear_example: bool,
        /// Deprecate (true) or restore (false).
        #[arg(long)]
        deprecated: Option<bool>,
    },
    /// Remove an event type from the catalog (admin key).
    Delete { name: String },
}

#[derive(Debug, clap::Args)]
pub struct TypeFields {
    /// A friendly name.
    #[arg(long)]
    label: Option<String>,
    /// What the event means, for the people who subscribe to it.
    #[arg(long)]
    description: Option<String>,
    /// JSON Schema that published data must satisfy: inline JSON, @file or - (stdin).
    #[arg(long, value_name = "JSON")]
    schema: Option<String>,
    /// Example data (sent by endpoint tests): inline JSON, @file or - (stdin).
    #[arg(long, value_name = "JSON")]
    example: Option<String>,
}

impl TypeFields {
    fn into_body(self) -> Result<Map<String, Value>, Failure> {
        let mut body = Map::new();
        if let Some(label) = self.label {
            body.insert("label".into(), Value::String(label));
        }
        if let Some(description) = self.description {
            body.insert("description".into(), Value::String(description));
        }
        if let Some(schema) = self.schema {
            body.insert("schema".into(), read_json("--schema", &schema)?);
        }
        if let Some(example) = self.example {
            body.insert("example".into(), read_json("--example", &example)?);
        }
        Ok(body)
    }
}

pub async fn run(args: EventTypesArgs) -> Result<(), Failure> {
    let session = Session::open(&args.connection)?;
    let catalog = session.client.event_types();
    let out = &session.out;
    match args.command {
        EventTypesCommand::List { deprecated, paging } => {
            let filter = CatalogFilter { include_deprecated: Some(deprecated) };
            let (items, next) =
                collect(&paging, catalog.list(&filter, &paging.params()), || catalog.stream(filter.clone()))
                    .await?;
            print_list(
                out,
                &items,
                next,
                &["NAME", "LABEL", "DEPRECATED", "DESCRIPTION"],
                |t: &EventTypeOut| {
                    vec![
                        t.name.to_string(),
                        t.label.clone(),
                        out.tone(super::output::yes_no(t.deprecated)),
                        first_line(&t.description),
                    ]
                },
            )
        }
        EventTypesCommand::Get { name } => out.document(&catalog.get(&name).await?),
        EventTypesCommand::Create { name, fields, deprecated } => {
            let mut body = fields.into_body()?;
            body.insert("name".into(), Value::String(name));
            body.insert("deprecated".into(), Value::Bool(deprecated));
            let created = catalog.create(&request::<EventTypeIn>("event type", Value::Object(body))?).await?;
            out.document(&created)
        }
        EventTypesCommand::Update { name, fields, clear_schema, clear_example, deprecated } => {
            let mut body = fields.into_body()?;
            if clear_schema {
                body.insert("schema".into(), Value::Null);
            }
            if clear_example {
                body.insert("example".into(), Value::Null);
            }
            if let Some(deprecated) = deprecated {
                body.insert("deprecated".into(), Value::Bool(deprecated));
            }
            if body.is_empty() {
                return Err(Failure::usage("nothing to change: pass a field to set"));
            }
            let patch: EventTypePatch = request("change", Value::Object(body))?;
            out.document(&catalog.update(&name, &patch).await?)
        }
        EventTypesCommand::Delete { name } => {
            catalog.delete(&name).await?;
            eprintln!("Deleted event type {name}.");
            Ok(())
        }
    }
}

/// The first line of a text, at most 60 characters, for a table cell.
pub fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else if line.is_empty() {
        "-".to_owned()
    } else {
        line.to_owned()
    }
}
