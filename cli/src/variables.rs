//! `lookout variables ...`: a project's template variables over gRPC (set, list with secrets
//! shown as "***", delete); a value given as `-` is read from stdin, so a secret stays out of
//! the shell history and `ps`.

use std::io::Read;

use anyhow::{Context, Result};
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::variable_service_client::VariableServiceClient;
use lookout_proto::v1::{
    DeleteVariableRequest, ListVariablesRequest, SetVariableRequest, Variable,
};

use crate::monitors::{ClientArgs, Output, connect, status};

#[derive(Subcommand)]
pub enum VariablesCmd {
    /// Create or replace a variable, usable in templates as `{{NAME}}`.
    Set {
        /// Upper-case letters, digits and underscores, e.g. JIRA_TOKEN.
        name: String,
        /// The value, or `-` to read it from stdin (one trailing newline is dropped).
        value: String,
        /// Never shown again: responses, logs and the delivery log carry "***".
        #[arg(long)]
        secret: bool,
    },
    /// List the project's variables (secret values read "***").
    List,
    /// Delete a variable.
    Delete { name: String },
}

pub async fn run(client: ClientArgs, cmd: VariablesCmd) -> Result<()> {
    let value = match &cmd {
        VariablesCmd::Set { value, .. } if value == "-" => Some(read_stdin()?),
        _ => None,
    };
    let (channel, bearer) = connect(&client).await?;
    let mut api = VariableServiceClient::with_interceptor(channel, bearer);
    let out = client.output;
    match cmd {
        VariablesCmd::Set {
            name,
            value: given,
            secret,
        } => {
            let v = api
                .set_variable(SetVariableRequest {
                    variable: Some(Variable {
                        name,
                        value: value.unwrap_or(given),
                        secret,
                        updated_at_ms: 0,
                    }),
                })
                .await
                .map_err(status)?;
            print_many(out, &[v.into_inner()])
        }
        VariablesCmd::List => {
            let vs = api
                .list_variables(ListVariablesRequest {})
                .await
                .map_err(status)?;
            print_many(out, &vs.into_inner().variables)
        }
        VariablesCmd::Delete { name } => {
            api.delete_variable(DeleteVariableRequest { name: name.clone() })
                .await
                .map_err(status)?;
            match out {
                Output::Json => println!("{}", serde_json::json!({ "deleted": name })),
                Output::Table => println!("deleted {name}"),
            }
            Ok(())
        }
    }
}

/// The value piped in, without the newline `echo` or a terminal adds.
fn read_stdin() -> Result<String> {
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .context("reading the value from stdin")?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}

fn print_many(out: Output, vs: &[Variable]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(vs)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec!["NAME", "VALUE", "SECRET", "UPDATED"]);
            for v in vs {
                t.add_row(vec![
                    v.name.clone(),
                    v.value.chars().take(80).collect(),
                    if v.secret { "yes" } else { "no" }.to_string(),
                    lookout_render::native::rfc3339_seconds(v.updated_at_ms),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
