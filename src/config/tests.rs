//! Tests of loading and checking the configuration.

use super::*;
use clap::Parser;

const SECRET: &str = "hunter2-s3cr3t";

fn no_env(_: &str) -> Option<String> {
    None
}

fn env(name: &str) -> Option<String> {
    match name {
        "CI_PASSWORD" | "LEASE_TOKEN" => Some(SECRET.to_owned()),
        "OWNER" => Some("acme".to_owned()),
        "TTL" => Some("45s".to_owned()),
        _ => None,
    }
}

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("mq-lease-service").chain(args.iter().copied())).unwrap()
}

fn load(text: &str, args: &[&str]) -> Result<Settings, ConfigError> {
    Settings::from_toml(text, Path::new("test.toml"), &cli(args), &env)
}

fn error(text: &str) -> String {
    load(text, &[]).unwrap_err().to_string()
}

fn key(owner: &str, repo: &str, base_ref: &str) -> ProviderKey {
    ProviderKey::new(owner, repo, base_ref).unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const THREE_LAYERS: &str = r#"
[defaults]
ttl = "40s"
expected_build_count = 6
stabilisation_window = "2m"

[[repository]]
owner = "acme"
name = "shop"
base_ref = "main"
expected_build_count = 3
"#;

#[test]
fn no_config_means_auto_register_and_built_in_defaults() {
    let settings = Settings::load(&cli(&[]), &no_env).unwrap();

    assert_eq!(settings, Settings::default());
    assert!(settings.auto_register);
    assert_eq!(settings.bind, "0.0.0.0");
    assert_eq!(settings.port, 8080);
    assert_eq!(settings.data_dir, PathBuf::from("./data"));
    assert_eq!(settings.max_providers, 10_000);
    assert_eq!(settings.defaults, LeaseSettings::default());
    assert!(settings.repositories.is_empty());
    assert_eq!(settings.auth, None);
}

#[test]
fn no_config_still_takes_the_flags() {
    let settings = Settings::load(
        &cli(&[
            "--port",
            "9000",
            "--bind",
            "127.0.0.1",
            "--data",
            "/tmp/x",
            "--ttl",
            "1m",
        ]),
        &no_env,
    )
    .unwrap();

    assert_eq!(settings.port, 9000);
    assert_eq!(settings.bind, "127.0.0.1");
    assert_eq!(settings.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(settings.defaults.ttl, secs(60));
    assert!(settings.auto_register);
}

#[test]
fn an_empty_file_turns_auto_register_off() {
    let settings = load("", &[]).unwrap();

    assert!(!settings.auto_register);
    assert_eq!(settings.defaults, LeaseSettings::default());
    assert_eq!(settings.port, 8080);
}

#[test]
fn the_auto_register_flag_beats_the_file() {
    let text = "[server]\nauto_register = true\n";
    assert!(load(text, &[]).unwrap().auto_register);
    assert!(
        !load(text, &["--auto-register=false"])
            .unwrap()
            .auto_register
    );
    assert!(load("", &["--auto-register"]).unwrap().auto_register);
}

#[test]
fn defaults_beat_the_built_in_values() {
    let settings = load(THREE_LAYERS, &[]).unwrap();

    assert_eq!(settings.defaults.ttl, secs(40));
    assert_eq!(settings.defaults.expected_build_count, 6);
    assert_eq!(settings.defaults.stabilisation_window, secs(120));
    assert_eq!(settings.defaults.delay_assignment_count, 0);
    assert_eq!(settings.defaults.lease_timeout, secs(600));
}

#[test]
fn a_flag_beats_defaults() {
    let settings = load(
        THREE_LAYERS,
        &["--ttl", "50s", "--expected-build-count", "7"],
    )
    .unwrap();

    assert_eq!(settings.defaults.ttl, secs(50));
    assert_eq!(settings.defaults.expected_build_count, 7);
    assert_eq!(settings.defaults.stabilisation_window, secs(120));
}

#[test]
fn repository_value_beats_flag_and_defaults() {
    let settings = load(
        THREE_LAYERS,
        &["--ttl", "50s", "--expected-build-count", "7"],
    )
    .unwrap();
    let lease = &settings.repositories[0].lease;

    assert_eq!(lease.expected_build_count, 3, "repository beats flag");
    assert_eq!(lease.ttl, secs(50), "flag beats defaults");
    assert_eq!(
        lease.stabilisation_window,
        secs(120),
        "defaults beat built-in"
    );
    assert_eq!(
        lease.lease_timeout,
        secs(600),
        "built-in when nothing is set"
    );
}

#[test]
fn server_flags_beat_the_file() {
    let text = "[server]\nport = 1234\nbind = \"::\"\ndata_dir = \"/srv\"\nmax_providers = 5\n";
    let from_file = load(text, &[]).unwrap();
    let flagged = load(
        text,
        &["--port", "4321", "--bind", "127.0.0.1", "--data", "/d"],
    )
    .unwrap();

    assert_eq!((from_file.port, from_file.bind.as_str()), (1234, "::"));
    assert_eq!(from_file.data_dir, PathBuf::from("/srv"));
    assert_eq!(from_file.max_providers, 5);
    assert_eq!((flagged.port, flagged.bind.as_str()), (4321, "127.0.0.1"));
    assert_eq!(flagged.data_dir, PathBuf::from("/d"));
}

#[test]
fn lease_settings_for_prefers_the_repository_entry() {
    let settings = load(THREE_LAYERS, &[]).unwrap();

    let lease = settings
        .lease_settings_for(&key("acme", "shop", "main"))
        .unwrap();
    assert_eq!(lease.expected_build_count, 3);
}

#[test]
fn lease_settings_for_an_unknown_key_depends_on_auto_register() {
    let unknown = key("acme", "other", "main");
    let closed = load(THREE_LAYERS, &[]).unwrap();
    let open = load(THREE_LAYERS, &["--auto-register"]).unwrap();

    assert_eq!(closed.lease_settings_for(&unknown), None);
    assert_eq!(
        open.lease_settings_for(&unknown),
        Some(open.defaults.clone())
    );
}

#[test]
fn repositories_keep_file_order_and_slashes_in_base_ref() {
    let text = r#"
[[repository]]
owner = "acme"
name = "shop"
base_ref = "release/1.x"

[[repository]]
owner = "acme"
name = "api"
base_ref = "main"
"#;
    let keys: Vec<_> = load(text, &[])
        .unwrap()
        .repositories
        .into_iter()
        .map(|r| r.key)
        .collect();

    assert_eq!(
        keys,
        [
            key("acme", "shop", "release/1.x"),
            key("acme", "api", "main")
        ]
    );
}

#[test]
fn every_duration_form_is_accepted_in_the_file() {
    let text = r#"
[defaults]
stabilisation_window = "1h30m"
ttl = 45
lease_timeout = "250ms"

[[repository]]
owner = "a"
name = "b"
base_ref = "c"
ttl = "90"
lease_timeout = 0
"#;
    let settings = load(text, &[]).unwrap();

    assert_eq!(settings.defaults.stabilisation_window, secs(5400));
    assert_eq!(settings.defaults.ttl, secs(45));
    assert_eq!(settings.defaults.lease_timeout, Duration::from_millis(250));
    assert_eq!(settings.repositories[0].lease.ttl, secs(90));
    assert_eq!(settings.repositories[0].lease.lease_timeout, Duration::ZERO);
}

#[test]
fn lease_timeout_zero_as_a_string_turns_it_off() {
    let settings = load("[defaults]\nlease_timeout = \"0\"\n", &[]).unwrap();
    assert_eq!(settings.defaults.lease_timeout, Duration::ZERO);
}

#[test]
fn bad_values_name_the_key_and_line() {
    let cases = [
        ("[defaults]\n\nttl = \"soon\"\n", "line 3", "defaults.ttl"),
        ("[defaults]\nttl = -5\n", "line 2", "defaults.ttl"),
        ("[defaults]\nttl = 0\n", "line 2", "defaults.ttl"),
        (
            "[defaults]\nexpected_build_count = 0\n",
            "line 2",
            "defaults.expected_build_count",
        ),
        (
            "[defaults]\ndelay_assignment_count = -1\n",
            "line 2",
            "defaults.delay_assignment_count",
        ),
        (
            "[defaults]\nexpected_build_count = \"4\"\n",
            "line 2",
            "expected_build_count",
        ),
        ("[server]\nport = 70000\n", "line 2", "server.port"),
        (
            "[server]\nmax_providers = 0\n",
            "line 2",
            "server.max_providers",
        ),
        ("[server]\ndata_dir = \"\"\n", "line 2", "server.data_dir"),
        (
            "[server]\nauto_register = \"yes\"\n",
            "line 2",
            "auto_register",
        ),
        (
            "[[repository]]\nowner = \"ac/me\"\nname = \"shop\"\nbase_ref = \"main\"\n",
            "line 2",
            "repository.owner",
        ),
        (
            "[[repository]]\nowner = \"acme\"\nname = \"shop\"\nbase_ref = \"\"\n",
            "line 4",
            "repository.base_ref",
        ),
        (
            "[[repository]]\nowner = \"a\"\nname = \"b\"\nbase_ref = \"c\"\nttl = \"1x\"\n",
            "line 5",
            "repository.ttl",
        ),
    ];
    for (text, line, key) in cases {
        let message = error(text);
        assert!(message.starts_with("test.toml, "), "{message}");
        assert!(message.contains(line), "{text:?}: {message}");
        assert!(message.contains(&format!("`{key}`")), "{text:?}: {message}");
    }
}

#[test]
fn a_missing_repository_field_is_named() {
    let message = error("\n[[repository]]\nowner = \"acme\"\nname = \"shop\"\n");
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("base_ref"), "{message}");
}

#[test]
fn unknown_key_names_key_and_line() {
    for (text, line) in [
        ("[server]\nport = 8080\nprot = 8081\n", "line 3"),
        (
            "[defaults]\nttl = \"30s\"\n\nstabilization_window = \"5m\"\n",
            "line 4",
        ),
        (
            "[[repository]]\nowner = \"a\"\nname = \"b\"\nbase_ref = \"c\"\nbranch = \"x\"\n",
            "line 5",
        ),
        ("[auth]\ntokens = []\n", "line 2"),
        ("[srever]\n", "line 1"),
    ] {
        let message = error(text);
        let unknown = text
            .lines()
            .last()
            .unwrap()
            .split(['=', ']'])
            .next()
            .unwrap()
            .trim_matches(['[', ' ']);
        assert!(
            message.contains(&format!("unknown field `{unknown}`")),
            "{message}"
        );
        assert!(message.contains(line), "{text:?}: {message}");
    }
}

#[test]
fn a_syntax_error_names_the_line() {
    let message = error("[server]\nport = 8080\nbind = \"0.0.0.0\n");
    assert!(message.contains("line 3"), "{message}");
}

#[test]
fn duplicate_repository_names_it_and_the_line() {
    let text = r#"[[repository]]
owner = "acme"
name = "shop"
base_ref = "main"

[[repository]]
owner = "acme"
name = "api"
base_ref = "main"

[[repository]]
owner = "acme"
name = "shop"
base_ref = "main"
"#;
    let err = load(text, &[]).unwrap_err();

    assert!(
        matches!(&err, ConfigError::DuplicateRepository { line: 11, first_line: 1, key: k, .. }
            if *k == key("acme", "shop", "main")),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("line 11"), "{message}");
    assert!(message.contains("acme:shop:main"), "{message}");
}

#[test]
fn env_variables_are_substituted_in_string_values_only() {
    let text = r#"
# ${NOT_SET} in a comment is left alone
[defaults]
ttl = "${TTL}"

[[repository]]
owner = "${OWNER}"
name = "shop-${OWNER}-$${OWNER}"
base_ref = "main"
"#;
    let settings = load(text, &[]).unwrap();

    assert_eq!(settings.defaults.ttl, secs(45));
    assert_eq!(
        settings.repositories[0].key,
        key("acme", "shop-acme-${OWNER}", "main")
    );
}

#[test]
fn auth_reads_users_and_tokens_through_env() {
    let text = r#"
[auth]
basic = { ci = "${CI_PASSWORD}", bot = "plain" }
bearer_tokens = ["${LEASE_TOKEN}", "t2"]
"#;
    let auth = load(text, &[]).unwrap().auth.unwrap();

    assert_eq!(
        auth.basic,
        [
            ("bot".to_owned(), "plain".to_owned()),
            ("ci".to_owned(), SECRET.to_owned())
        ]
    );
    assert_eq!(auth.bearer_tokens, [SECRET, "t2"]);
}

#[test]
fn an_empty_auth_table_means_no_auth() {
    assert_eq!(load("[auth]\n", &[]).unwrap().auth, None);
    assert_eq!(
        load("[auth]\nbasic = {}\nbearer_tokens = []\n", &[])
            .unwrap()
            .auth,
        None
    );
}

#[test]
fn missing_env_var_names_the_variable_and_not_any_secret() {
    let text = "[auth]\nbearer_tokens = [\"${LEASE_TOKEN}\"]\nbasic = { ci = \"${CI_PASSWORD}\", ops = \"${OPS_PASSWORD}\" }\n";
    let err = load(text, &[]).unwrap_err();

    assert!(
        matches!(&err, ConfigError::MissingEnv { var, line: 3, .. } if var == "OPS_PASSWORD"),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("`OPS_PASSWORD`"), "{shown}");
    assert!(shown.contains("auth.basic.ops"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn bad_secrets_are_rejected_without_showing_them() {
    for (text, key) in [
        ("[auth]\nbasic = \"hunter2-s3cr3t\"\n", "basic"),
        ("[auth]\nbasic = { ci = 1234567 }\n", "ci"),
        (
            "[auth]\nbearer_tokens = [\"ok\", 1234567]\n",
            "bearer_tokens",
        ),
        ("[auth]\nbasic = { ci = \"\" }\n", "auth.basic.ci"),
        (
            "[auth]\nbearer_tokens = [\"hunter2 s3cr3t\"]\n",
            "auth.bearer_tokens",
        ),
        (
            "[auth]\nbearer_tokens = [\"hunter2-s3cr3t\\n\"]\n",
            "auth.bearer_tokens",
        ),
        (
            "[auth]\nbasic = { \"c:i\" = \"hunter2-s3cr3t\" }\n",
            "auth.basic.c:i",
        ),
    ] {
        let message = error(text);
        assert!(message.contains("line 2"), "{text:?}: {message}");
        assert!(message.contains(key), "{text:?}: {message}");
        for leak in ["hunter2", "s3cr3t", "1234567"] {
            assert!(!message.contains(leak), "{text:?}: {message}");
        }
    }
}

#[test]
fn debug_hides_secrets() {
    let text = "[auth]\nbasic = { ci = \"${CI_PASSWORD}\" }\nbearer_tokens = [\"${LEASE_TOKEN}\", \"t0k3n-two\"]\n";
    let settings = load(text, &[]).unwrap();

    let shown = format!("{settings:?} {:#?}", settings.auth);

    assert!(shown.contains("ci"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    assert!(shown.contains("2 token(s)"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains("t0k3n-two"), "{shown}");
}

#[test]
fn the_file_shapes_do_not_leak_secrets_in_debug_either() {
    let file: FileConfig = toml::from_str("[auth]\nbasic = { ci = \"hunter2-s3cr3t\" }\n").unwrap();
    assert!(!format!("{file:?}").contains("hunter2"));
}

#[test]
fn a_missing_config_file_names_the_path() {
    let err = Settings::load(&cli(&["--config", "/nonexistent/mq.toml"]), &no_env).unwrap_err();

    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/mq.toml"), "{err}");
}

#[test]
fn the_data_dir_need_not_exist() {
    let settings = load("[server]\ndata_dir = \"/nonexistent/mq-data\"\n", &[]).unwrap();
    assert_eq!(settings.data_dir, PathBuf::from("/nonexistent/mq-data"));
}

#[test]
fn the_example_config_parses_to_the_documented_values() {
    let text = include_str!("../../config/example.toml");

    let settings =
        Settings::from_toml(text, Path::new("config/example.toml"), &cli(&[]), &no_env).unwrap();

    assert_eq!(settings.port, 8080);
    assert_eq!(settings.bind, "0.0.0.0");
    assert_eq!(settings.data_dir, PathBuf::from("./data"));
    assert!(settings.auto_register);
    assert_eq!(settings.max_providers, 10_000);
    assert_eq!(settings.defaults, LeaseSettings::default());
    assert_eq!(settings.auth, None);
    assert_eq!(
        settings.repositories,
        [RepositorySettings {
            key: key("acme", "shop", "main"),
            lease: LeaseSettings {
                expected_build_count: 3,
                ..LeaseSettings::default()
            },
        }]
    );
}

#[test]
fn the_example_config_loads_from_its_path_without_any_env() {
    let settings = Settings::load(&cli(&["--config", "config/example.toml"]), &no_env).unwrap();
    assert_eq!(settings.repositories.len(), 1);
}

#[test]
fn the_commented_auth_example_in_the_example_config_works_when_uncommented() {
    let text = include_str!("../../config/example.toml")
        .replace("# [auth]", "[auth]")
        .replace("# basic =", "basic =")
        .replace("# bearer_tokens =", "bearer_tokens =");

    let without_env = Settings::from_toml(&text, Path::new("x"), &cli(&[]), &no_env).unwrap_err();
    let with_env = Settings::from_toml(&text, Path::new("x"), &cli(&[]), &env).unwrap();

    assert!(
        matches!(without_env, ConfigError::MissingEnv { .. }),
        "{without_env}"
    );
    let auth = with_env.auth.unwrap();
    assert_eq!(auth.basic, [("ci".to_owned(), SECRET.to_owned())]);
    assert_eq!(auth.bearer_tokens, [SECRET]);
}

#[test]
fn key_before_finds_the_key_of_a_value_in_tables_and_arrays() {
    let find = |text: &str, value: &str| key_before(text, text.rfind(value).unwrap());
    assert_eq!(find("ttl = 5", "5").as_deref(), Some("ttl"));
    assert_eq!(find("basic = { ci = 5 }", "5").as_deref(), Some("ci"));
    assert_eq!(find("t = [\"a=b\", 'c=', 5]", "5").as_deref(), Some("t"));
    assert_eq!(
        find("\"quoted key\" = 5", "5").as_deref(),
        Some("quoted key")
    );
    assert_eq!(find("[server]\nport", "port"), None);
}

#[test]
fn redaction_cuts_quoted_strings_with_escapes() {
    assert_eq!(
        redact_strings(r#"invalid type: string "a\"b", expected i64"#),
        "invalid type: a string, expected i64"
    );
}

#[test]
fn without_a_postgres_url_there_is_no_cluster() {
    let settings = load("[cluster]\nleader_lease = \"2s\"\n", &[]).unwrap();
    assert_eq!(settings.cluster, None);
}

#[test]
fn the_postgres_url_comes_from_the_environment_and_debug_hides_its_password() {
    let text = r#"
[store]
postgres_url = "postgres://mq:${CI_PASSWORD}@db:5432/mq?sslmode=disable"

[cluster]
advertise_url = "http://10.1.2.3:8080/"
leader_lease = "3s"
"#;
    let settings = load(text, &[]).unwrap();
    let cluster = settings.cluster.clone().unwrap();
    assert_eq!(
        cluster.postgres_url.expose(),
        format!("postgres://mq:{SECRET}@db:5432/mq?sslmode=disable")
    );
    assert_eq!(
        cluster.advertise_url.as_deref(),
        Some("http://10.1.2.3:8080")
    );
    assert_eq!(cluster.leader_lease, secs(3));
    let shown = format!("{settings:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("postgres://mq:***@db:5432/mq"), "{shown}");
}

#[test]
fn the_cluster_flags_beat_the_file_and_the_lease_defaults_to_5s() {
    let text = "[store]\npostgres_url = \"postgres://file/mq\"\n";
    let settings = load(
        text,
        &[
            "--postgres-url",
            "postgres://flag/mq",
            "--advertise-url",
            "http://a:1",
        ],
    )
    .unwrap();
    let cluster = settings.cluster.unwrap();
    assert_eq!(cluster.postgres_url.expose(), "postgres://flag/mq");
    assert_eq!(cluster.advertise_url.as_deref(), Some("http://a:1"));
    assert_eq!(cluster.leader_lease, DEFAULT_LEADER_LEASE);
}

#[test]
fn bad_cluster_values_name_their_key() {
    let base = "[store]\npostgres_url = \"postgres://db/mq\"\n[cluster]\n";
    for (line, expected) in [
        ("leader_lease = \"100ms\"", "cluster.leader_lease"),
        ("advertise_url = \"10.0.0.1:8080\"", "cluster.advertise_url"),
        ("advertise = \"http://a\"", "advertise"),
    ] {
        let e = error(&format!("{base}{line}\n"));
        assert!(e.contains(expected), "{line}: {e}");
    }
    let e = error("[store]\npostgres_url = 5\n");
    assert!(e.contains("postgres_url") && e.contains("string"), "{e}");
}

#[test]
fn a_redacted_url_keeps_everything_but_the_password() {
    for (url, shown) in [
        ("postgres://u:p4ss@h:5432/db", "postgres://u:***@h:5432/db"),
        (
            "postgres://u@h/db?password=p4ss&x=1",
            "postgres://u@h/db?password=***&x=1",
        ),
        ("postgresql://h/db", "postgresql://h/db"),
        ("host=h user=u password=p4ss", "host=h user=u password=***"),
        ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
    ] {
        assert_eq!(types::redact_url(url), shown);
    }
}

#[test]
fn silent_holder_timeout_is_off_unless_set_and_set_per_repository_or_by_flag() {
    let text = r#"
[defaults]
silent_holder_timeout = "2h"

[[repository]]
owner = "a"
name = "b"
base_ref = "c"
silent_holder_timeout = 0

[[repository]]
owner = "a"
name = "b"
base_ref = "d"
"#;
    assert_eq!(
        load("", &[]).unwrap().defaults.silent_holder_timeout,
        Duration::ZERO,
        "off by default: a holder silent since its grant keeps the lease"
    );
    let settings = load(text, &[]).unwrap();
    assert_eq!(settings.defaults.silent_holder_timeout, secs(7200));
    assert_eq!(
        settings.repositories[0].lease.silent_holder_timeout,
        Duration::ZERO
    );
    assert_eq!(
        settings.repositories[1].lease.silent_holder_timeout,
        secs(7200)
    );
    let flagged = load(text, &["--silent-holder-timeout", "45m"]).unwrap();
    assert_eq!(flagged.defaults.silent_holder_timeout, secs(2700));
    assert_eq!(
        flagged.repositories[0].lease.silent_holder_timeout,
        Duration::ZERO,
        "a repository's own value beats the flag"
    );
}

#[test]
fn silent_holder_timeout_out_of_bounds_is_refused_with_its_key_and_line() {
    for value in ["\"500ms\"", "\"8d\""] {
        let message = error(&format!("[defaults]\n\nsilent_holder_timeout = {value}\n"));
        assert!(
            message.contains("line 3")
                && message.contains("defaults.silent_holder_timeout")
                && message.contains("between 1s and 7d"),
            "{value}: {message}"
        );
    }
    for value in ["500ms", "8d"] {
        let refused = Cli::try_parse_from(["mq-lease-service", "--silent-holder-timeout", value])
            .unwrap_err();
        assert!(
            refused.to_string().contains("between 1s and 7d"),
            "{value}: {refused}"
        );
    }
}

#[test]
fn the_postgres_password_file_comes_from_the_file_or_the_flag_which_wins() {
    let text = "[store]\npostgres_url = \"postgres://mq@db/mq\"\npostgres_password_file = \"/run/secrets/pg\"\n";
    let from_file = load(text, &[]).unwrap().cluster.unwrap();
    let flagged = load(text, &["--postgres-password-file", "/flag/pg"])
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(
        from_file.postgres_password_file,
        Some(PathBuf::from("/run/secrets/pg"))
    );
    assert_eq!(
        flagged.postgres_password_file,
        Some(PathBuf::from("/flag/pg"))
    );
    let e = error("[store]\npostgres_url = \"postgres://db/mq\"\npostgres_password_file = \"\"\n");
    assert!(e.contains("store.postgres_password_file"), "{e}");
}
