//! VariableService through the real gRPC server, on both backends: a secret variable's value is
//! never returned ("***") but stored as given, names and values are validated, and another
//! project's token sees none of them.

mod common;

use common::{Harness, PROJECT_TOKEN, bearer, tenant};
use lookout_proto::v1::variable_service_client::VariableServiceClient;
use lookout_proto::v1::{
    DeleteVariableRequest, ListVariablesRequest, SetVariableRequest, Variable,
};
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;
use tonic::{Code, Status};

fn assert_code<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, needle: &str, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected {code:?}, got {v:?}"),
        Err(s) => {
            assert_eq!(s.code(), code, "{what}: {s:?}");
            assert!(
                s.message().contains(needle),
                "{what}: message names {needle:?}: {}",
                s.message()
            );
        }
    }
}

async fn variables_are_set_listed_and_deleted(db: TestDb) {
    let h = Harness::start_on(db.store.clone(), 1_000, None).await;
    let ch = h.channel().await;
    let other = tenant(&ch, "other").await;
    let mut api = VariableServiceClient::new(ch);
    let set = |name: &str, value: &str, secret: bool| {
        bearer(
            PROJECT_TOKEN,
            SetVariableRequest {
                variable: Some(Variable {
                    name: name.into(),
                    value: value.into(),
                    secret,
                    updated_at_ms: 0,
                }),
            },
        )
    };
    let plain = api
        .set_variable(set("REGION_NAME", "Frankfurt", false))
        .await
        .expect("set plain")
        .into_inner();
    assert_eq!(plain.value, "Frankfurt");
    let secret = api
        .set_variable(set("JIRA_TOKEN", "jira-t0ken", true))
        .await
        .expect("set secret")
        .into_inner();
    assert_eq!(secret.value, "***", "a secret is never returned");
    assert!(secret.secret);

    let listed = api
        .list_variables(bearer(PROJECT_TOKEN, ListVariablesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .variables;
    let shown: Vec<(&str, &str, bool)> = listed
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str(), v.secret))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("JIRA_TOKEN", "***", true),
            ("REGION_NAME", "Frankfurt", false)
        ]
    );
    let stored = db
        .store
        .list_variables(DEFAULT_PROJECT_ID)
        .await
        .expect("stored");
    assert!(
        stored
            .iter()
            .any(|v| v.name == "JIRA_TOKEN" && v.value == "jira-t0ken"),
        "the secret is stored as given"
    );

    for bad in ["jira_token", "1TOKEN", "JIRA-TOKEN", ""] {
        assert_code(
            api.set_variable(set(bad, "x", false)).await,
            Code::InvalidArgument,
            "variable.name",
            bad,
        );
    }
    assert_code(
        api.set_variable(set("BIG", &"x".repeat(4097), false)).await,
        Code::InvalidArgument,
        "variable.value",
        "a value over 4096 bytes",
    );

    let others = api
        .list_variables(bearer(&other.token, ListVariablesRequest {}))
        .await
        .expect("list of the other")
        .into_inner()
        .variables;
    assert!(others.is_empty(), "another project sees none: {others:?}");
    assert_code(
        api.delete_variable(bearer(
            &other.token,
            DeleteVariableRequest {
                name: "JIRA_TOKEN".into(),
            },
        ))
        .await,
        Code::NotFound,
        "JIRA_TOKEN",
        "another project deleting it",
    );

    api.delete_variable(bearer(
        PROJECT_TOKEN,
        DeleteVariableRequest {
            name: "JIRA_TOKEN".into(),
        },
    ))
    .await
    .expect("delete");
    let names: Vec<String> = api
        .list_variables(bearer(PROJECT_TOKEN, ListVariablesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .variables
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, vec!["REGION_NAME".to_string()]);
    assert_code(
        api.delete_variable(bearer(
            PROJECT_TOKEN,
            DeleteVariableRequest {
                name: "JIRA_TOKEN".into(),
            },
        ))
        .await,
        Code::NotFound,
        "JIRA_TOKEN",
        "deleting twice",
    );
    h.stop().await;
}

lookout_store::backend_tests!(variables_are_set_listed_and_deleted);
