//! Tests of [`super`]: `sslmode` and `sslrootcert` taken out of a connection string, what each
//! mode checks, and a missing root certificate file.

use super::*;

#[test]
fn sslmode_and_sslrootcert_are_taken_out_of_a_url_and_the_rest_kept() {
    let (rest, tls) = split(
        "postgres://u:p@db:5432/x?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
    )
    .unwrap();

    assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=a");
    assert_eq!(tls.mode, SslMode::VerifyFull);
    assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
}

#[test]
fn a_key_value_string_gives_its_sslmode_and_no_sslmode_means_prefer() {
    let (rest, tls) = split("host=db user=u sslmode=verify-ca sslrootcert='/ca.pem'").unwrap();
    let (_, default) = split("postgres://db/x").unwrap();
    let (_, system) = split("postgres://db/x?sslmode=verify-full&sslrootcert=system").unwrap();

    assert_eq!(rest, "host=db user=u");
    assert_eq!(tls.mode, SslMode::VerifyCa);
    assert_eq!(tls.root_cert, Some(PathBuf::from("/ca.pem")));
    assert_eq!(default.mode, SslMode::Prefer);
    assert_eq!(system.root_cert, None);
}

#[test]
fn an_unknown_sslmode_is_refused_naming_the_choices() {
    let e = split("postgres://db/x?sslmode=allowed").unwrap_err();

    assert!(e.contains("verify-full") && e.contains("allowed"), "{e}");
}

#[test]
fn require_with_a_root_certificate_checks_the_chain_as_libpq_does() {
    let with = Tls {
        mode: SslMode::Require,
        root_cert: Some("/ca.pem".into()),
    };
    let without = Tls {
        mode: SslMode::Require,
        root_cert: None,
    };

    assert!(
        with.describe().contains("chain checked"),
        "{}",
        with.describe()
    );
    assert!(without.describe().contains("not checked"));
}

#[test]
fn a_missing_root_certificate_file_is_an_error_naming_it() {
    let tls = Tls {
        mode: SslMode::VerifyFull,
        root_cert: Some("/nonexistent/ca.pem".into()),
    };

    let e = tls.connector().err().unwrap();

    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
}
