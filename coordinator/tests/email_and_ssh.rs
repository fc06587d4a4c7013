//! MemberService and the email and SSH restart integrations through the real gRPC server:
//! members verify with the mailed code (wrong codes counted, the right one accepted), an
//! email integration to an unverified member is refused at creation, another project sees no
//! member; an SSH restart integration pins the host key of a real sshd on creation (trust on
//! first use, the fingerprint shown), never returns its password, keeps the pin when sent back
//! and refuses a stored password following it to another server; loopback servers are refused
//! unless the deployment allows private destinations.

mod common;
#[path = "../../ssh/tests/sshd/mod.rs"]
mod sshd;

use common::{PROJECT_TOKEN, bearer, tenant};
use lookout_coordinator::{CoordinatorConfig, serve};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
use lookout_proto::v1::member_service_client::MemberServiceClient;
use lookout_proto::v1::{
    AddMemberRequest, CreateIntegrationRequest, EmailIntegration, GetIntegrationRequest,
    Integration, ListMembersRequest, RemoveMemberRequest, SmtpServer, SshRestart,
    UpdateIntegrationRequest, VerifyMemberRequest,
};
use lookout_store::Store;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use sshd::{Sshd, SshdOptions};
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

struct Server {
    channel: Channel,
    store: Store,
    _stop: oneshot::Sender<()>,
}

/// A coordinator on an in-memory store; `allow_private` is its `allow_private_destinations`.
async fn start(allow_private: bool) -> Server {
    let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
        .await
        .expect("store");
    let mut config = common::config(1_000);
    config.allow_private_destinations = allow_private;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let bus = lookout_bus::InProcBus::new();
    let s = store.clone();
    let cfg: CoordinatorConfig = config;
    tokio::spawn(async move {
        serve(
            cfg,
            s,
            std::sync::Arc::new(bus.publisher()),
            listener,
            async move {
                let _ = stopped.await;
            },
        )
        .await
        .expect("serves");
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    Server {
        channel,
        store,
        _stop: stop,
    }
}

fn email(to: &str) -> Integration {
    Integration {
        kind: Some(Kind::Email(EmailIntegration {
            email: to.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn members_verify_with_the_mailed_code() {
    let s = start(false).await;
    let mut members = MemberServiceClient::new(s.channel.clone());
    let mut integrations = IntegrationServiceClient::new(s.channel.clone());
    let m = members
        .add_member(bearer(
            PROJECT_TOKEN,
            AddMemberRequest {
                email: " Alice@Example.com ".into(),
                name: "Alice".into(),
            },
        ))
        .await
        .expect("add")
        .into_inner();
    assert_eq!(m.email, "Alice@Example.com");
    assert_eq!((m.verified_at_ms, m.code_sent_at_ms), (0, 0));

    // Mail to her is refused until she verified the address, naming the field.
    let e = integrations
        .create_integration(bearer(
            PROJECT_TOKEN,
            CreateIntegrationRequest {
                integration: Some(email("alice@example.com")),
            },
        ))
        .await
        .expect_err("unverified");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with(
            "email.email: alice@example.com belongs to a member of this project who has not verified it"
        ),
        "{}",
        e.message()
    );

    let code = s
        .store
        .member_code(&m.id)
        .await
        .expect("code")
        .expect("pending");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = members
        .verify_member(bearer(
            PROJECT_TOKEN,
            VerifyMemberRequest {
                email: "alice@example.com".into(),
                code: wrong.into(),
            },
        ))
        .await
        .expect_err("wrong code");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .contains("code: is not the code mailed to Alice@Example.com; 4 tries left"),
        "{}",
        e.message()
    );
    let e = members
        .verify_member(bearer(
            PROJECT_TOKEN,
            VerifyMemberRequest {
                email: "alice@example.com".into(),
                code: "12ab".into(),
            },
        ))
        .await
        .expect_err("malformed");
    assert!(
        e.message().starts_with("code: must be the 6 digits"),
        "{}",
        e.message()
    );
    let v = members
        .verify_member(bearer(
            PROJECT_TOKEN,
            VerifyMemberRequest {
                email: "alice@example.com".into(),
                code,
            },
        ))
        .await
        .expect("verified")
        .into_inner();
    assert!(v.verified_at_ms > 0);
    let created = integrations
        .create_integration(bearer(
            PROJECT_TOKEN,
            CreateIntegrationRequest {
                integration: Some(email("alice@example.com")),
            },
        ))
        .await
        .expect("verified address")
        .into_inner();
    assert_eq!(
        created.name, "alice@example.com",
        "named as the document does"
    );
    let e = members
        .add_member(bearer(
            PROJECT_TOKEN,
            AddMemberRequest {
                email: "alice@example.com".into(),
                name: String::new(),
            },
        ))
        .await
        .expect_err("verified already");
    assert_eq!(e.code(), Code::AlreadyExists);

    // Bad addresses name the field; another project sees none of these members.
    let e = members
        .add_member(bearer(
            PROJECT_TOKEN,
            AddMemberRequest {
                email: "alice@@example".into(),
                name: String::new(),
            },
        ))
        .await
        .expect_err("bad address");
    assert!(e.message().starts_with("email: "), "{}", e.message());
    let other = tenant(&s.channel, "other").await;
    let theirs = members
        .list_members(bearer(&other.token, ListMembersRequest {}))
        .await
        .expect("list")
        .into_inner();
    assert!(theirs.members.is_empty());
    let e = members
        .remove_member(bearer(
            &other.token,
            RemoveMemberRequest {
                email: "alice@example.com".into(),
            },
        ))
        .await
        .expect_err("not theirs");
    assert_eq!(e.code(), Code::NotFound);
    let ours = members
        .list_members(bearer(PROJECT_TOKEN, ListMembersRequest {}))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(ours.members.len(), 1);
}

#[tokio::test]
async fn ssh_restart_pins_the_host_key_on_creation() {
    let sshd = Sshd::start(SshdOptions {
        host_key: "ed25519",
        authorized: vec![],
        password: None,
    });
    let restart = SshRestart {
        ip: "127.0.0.1".into(),
        port: u32::from(sshd.addr.port()),
        username: "admin".into(),
        password: "secure_password".into(),
        ..Default::default()
    };
    let integration = Integration {
        kind: Some(Kind::SshRestart(restart.clone())),
        ..Default::default()
    };

    // A deployment that does not allow private destinations refuses the loopback server.
    let strict = start(false).await;
    let e = IntegrationServiceClient::new(strict.channel.clone())
        .create_integration(bearer(
            PROJECT_TOKEN,
            CreateIntegrationRequest {
                integration: Some(integration.clone()),
            },
        ))
        .await
        .expect_err("loopback refused");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("ssh_restart.ip: 127.0.0.1 is 127.0.0.1, a loopback address"),
        "{}",
        e.message()
    );
    let e = IntegrationServiceClient::new(strict.channel.clone())
        .create_integration(bearer(
            PROJECT_TOKEN,
            CreateIntegrationRequest {
                integration: Some(Integration {
                    kind: Some(Kind::Email(EmailIntegration {
                        email: "ops@example.com".into(),
                        smtp: Some(SmtpServer {
                            host: "localhost".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect_err("loopback SMTP refused");
    assert!(
        e.message().starts_with("email.smtp.host: localhost is "),
        "{}",
        e.message()
    );

    let s = start(true).await;
    let mut api = IntegrationServiceClient::new(s.channel.clone());
    let created = api
        .create_integration(bearer(
            PROJECT_TOKEN,
            CreateIntegrationRequest {
                integration: Some(integration.clone()),
            },
        ))
        .await
        .expect("created")
        .into_inner();
    let Some(Kind::SshRestart(shown)) = &created.kind else {
        panic!("kind")
    };
    assert_eq!(
        created.name, "127.0.0.1 (admin)",
        "named as the document does"
    );
    assert_eq!(shown.host_key, sshd.host_key(), "the key the server has");
    let fingerprint = lookout_ssh::HostKey::parse(&sshd.host_key())
        .expect("key")
        .fingerprint();
    assert_eq!(shown.host_key_fingerprint, fingerprint);
    assert_eq!(shown.password, "***", "never returned");
    assert_eq!(
        (shown.command.as_str(), shown.cooldown_secs),
        ("sudo reboot", 1800)
    );
    let stored = s
        .store
        .get_integration_in_project(DEFAULT_PROJECT_ID, &created.id)
        .await
        .expect("stored");
    let Some(Kind::SshRestart(kept)) = &stored.kind else {
        panic!("kind")
    };
    assert_eq!(kept.password, "secure_password");

    // Sent back as read: the pin and the password stay.
    let mut back = created.clone();
    if let Some(Kind::SshRestart(r)) = &mut back.kind {
        r.command = "sudo systemctl restart app".into();
    }
    let updated = api
        .update_integration(bearer(
            PROJECT_TOKEN,
            UpdateIntegrationRequest {
                integration: Some(back.clone()),
            },
        ))
        .await
        .expect("updated")
        .into_inner();
    let Some(Kind::SshRestart(u)) = &updated.kind else {
        panic!("kind")
    };
    assert_eq!(u.host_key_fingerprint, fingerprint);
    let stored = s
        .store
        .get_integration_in_project(DEFAULT_PROJECT_ID, &created.id)
        .await
        .expect("stored");
    assert!(matches!(&stored.kind, Some(Kind::SshRestart(k)) if k.password == "secure_password"));

    // Pointed at another server, the stored password does not follow.
    let mut moved = updated.clone();
    if let Some(Kind::SshRestart(r)) = &mut moved.kind {
        r.ip = "localhost".into();
        r.host_key.clear();
    }
    let e = api
        .update_integration(bearer(
            PROJECT_TOKEN,
            UpdateIntegrationRequest {
                integration: Some(moved),
            },
        ))
        .await
        .expect_err("password withheld");
    assert!(
        e.message().starts_with("ssh_restart.password: is \"***\""),
        "{}",
        e.message()
    );
    let got = api
        .get_integration(bearer(
            PROJECT_TOKEN,
            GetIntegrationRequest { id: created.id },
        ))
        .await
        .expect("get")
        .into_inner();
    assert!(!format!("{got:?}").contains("secure_password"));

    // Nothing listening: the pin cannot be taken, and the error says what to do.
    drop(sshd);
    let e = api
        .create_integration(bearer(
            PROJECT_TOKEN,
            CreateIntegrationRequest {
                integration: Some(integration),
            },
        ))
        .await
        .expect_err("unreachable");
    assert!(
        e.message().starts_with("ssh_restart.host_key: is empty, so Lookout pins the key the server presents, but cannot connect"),
        "{}",
        e.message()
    );
}
