//! `lookout users ...`: the project's members, the people email integrations send to (add,
//! which mails a verification code; verify with that code; list with each address's
//! verification state; remove). Mail to a member's address is refused until it is verified.

use anyhow::Result;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::member_service_client::MemberServiceClient;
use lookout_proto::v1::{
    AddMemberRequest, ListMembersRequest, Member, RemoveMemberRequest, VerifyMemberRequest,
};

use crate::monitors::{ClientArgs, Output, connect, status};

#[derive(Subcommand)]
pub enum UsersCmd {
    /// Register an address and mail it a verification code (again: a new code).
    Add {
        email: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Verify an address with the code mailed to it.
    Verify { email: String, code: String },
    /// List the members and whether each address is verified.
    List,
    /// Remove a member.
    Remove { email: String },
}

pub async fn run(client: ClientArgs, cmd: UsersCmd) -> Result<()> {
    let (channel, bearer) = connect(&client).await?;
    let mut api = MemberServiceClient::with_interceptor(channel, bearer);
    let out = client.output;
    match cmd {
        UsersCmd::Add { email, name } => {
            let m = api
                .add_member(AddMemberRequest { email, name })
                .await
                .map_err(status)?
                .into_inner();
            if out == Output::Table {
                println!(
                    "added {}: a verification code is on its way; enter it with \
                     `lookout users verify {} CODE`",
                    m.email, m.email
                );
            }
            print_many(out, &[m])
        }
        UsersCmd::Verify { email, code } => {
            let m = api
                .verify_member(VerifyMemberRequest { email, code })
                .await
                .map_err(status)?
                .into_inner();
            print_many(out, &[m])
        }
        UsersCmd::List => {
            let ms = api
                .list_members(ListMembersRequest {})
                .await
                .map_err(status)?
                .into_inner();
            print_many(out, &ms.members)
        }
        UsersCmd::Remove { email } => {
            api.remove_member(RemoveMemberRequest {
                email: email.clone(),
            })
            .await
            .map_err(status)?;
            match out {
                Output::Json => println!("{}", serde_json::json!({ "removed": email })),
                Output::Table => println!("removed {email}"),
            }
            Ok(())
        }
    }
}

/// Where a member's verification stands, in words.
fn verification(m: &Member) -> String {
    let at = lookout_render::native::rfc3339_seconds;
    if m.verified_at_ms > 0 {
        format!("verified {}", at(m.verified_at_ms))
    } else if !m.code_error.is_empty() {
        format!("code not mailed: {}", m.code_error)
    } else if m.code_sent_at_ms > 0 {
        format!("code mailed {}", at(m.code_sent_at_ms))
    } else {
        "code waiting to be mailed".into()
    }
}

fn print_many(out: Output, ms: &[Member]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(ms)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec!["EMAIL", "NAME", "VERIFIED", "ID"]);
            for m in ms {
                t.add_row(vec![
                    m.email.clone(),
                    m.name.clone(),
                    verification(m),
                    m.id.clone(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
