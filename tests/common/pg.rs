//! A throw-away PostgreSQL cluster for tests: `initdb` into a fresh temp dir, listening on
//! 127.0.0.1 on a free port, stopped and removed when dropped.
//!
//! Binaries come from `$MQ_LEASE_PG_BIN` or `/usr/lib/postgresql/15/bin`. `initdb` refuses to run
//! as root, so as root every PostgreSQL command runs as the `postgres` user (`runuser`), and the
//! temp dir is handed to that user. Connections over TCP need the superuser's password
//! (scram-sha-256), so [`PgCluster::url`] carries one, as a production URL would; local socket
//! connections (what [`PgCluster::psql`] uses) are trusted. `fsync` stays on.
//!
//! ```ignore
//! let mut pg = PgCluster::start();
//! let store = PgStore::connect(&pg.url()).await?;
//! pg.stop();          // the database goes away (fast shutdown)
//! pg.start_again();   // same data, same port
//! pg.psql("SELECT count(*) FROM mq_lease_providers");
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::distributions::Alphanumeric;
use rand::Rng;

/// The superuser the cluster is made with.
pub const SUPERUSER: &str = "postgres";

pub struct PgCluster {
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    /// `Some("postgres")` when PostgreSQL commands run as that user (the tests run as root).
    run_as: Option<String>,
    port: u16,
    password: String,
    running: bool,
}

impl PgCluster {
    /// initdb + start. Panics with a clear message if the binaries or the `postgres` user (when
    /// running as root) are missing: a test must never pass by skipping its database.
    pub fn start() -> PgCluster {
        let bin = std::env::var_os("MQ_LEASE_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
        assert!(
            bin.join("initdb").is_file() && bin.join("pg_ctl").is_file(),
            "PostgreSQL binaries not found in {} (initdb, pg_ctl): install PostgreSQL 15 \
             (Debian: apt-get install postgresql-15, as .ci/run does) or set MQ_LEASE_PG_BIN",
            bin.display()
        );
        let run_as = if current_uid() == 0 {
            let uid = user_id(SUPERUSER).unwrap_or_else(|| {
                panic!(
                    "running as root, but there is no `{SUPERUSER}` user to run initdb as \
                     (create it: useradd --system {SUPERUSER}; .ci/run does)"
                )
            });
            Some((SUPERUSER.to_owned(), uid))
        } else {
            None
        };

        // As root the dir goes under /tmp (traversable by every user, whatever TMPDIR says) and is
        // handed to `postgres`; it stays mode 0700.
        let parent = if run_as.is_some() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("mq-lease-pg-")
            .tempdir_in(parent)
            .expect("create a temp dir for PostgreSQL");
        let password: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).expect("write the password file");
        if let Some((_, (uid, gid))) = &run_as {
            for path in [dir.path(), pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                    .expect("hand the temp dir to the postgres user");
            }
        }

        let mut pg = PgCluster {
            dir: Some(dir),
            bin,
            run_as: run_as.map(|(name, _)| name),
            port: super::free_port(),
            password,
            running: false,
        };
        let data = pg.data_dir();
        pg.run_checked(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                format!("--pwfile={}", pwfile.display()).as_ref(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--no-locale".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        pg.start_again();
        pg
    }

    /// `postgres://postgres:<password>@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_with_password(&self.password)
    }

    /// The URL with another password (to see a refused login).
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{password}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("temp dir").path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// Turns TLS on (`ssl = on`) with `cert_pem` (the chain) and `key_pem` as the server's
    /// certificate and key, and restarts the server. Plain connections stay allowed.
    pub fn enable_tls(&mut self, cert_pem: &str, key_pem: &str) {
        let data = self.data_dir();
        let cert = data.join("server.crt");
        let key = data.join("server.key");
        std::fs::write(&cert, cert_pem).expect("write server.crt");
        std::fs::write(&key, key_pem).expect("write server.key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod server.key");
        if self.run_as.is_some() {
            let (uid, gid) = user_id(SUPERUSER).expect("the postgres user");
            for path in [&cert, &key] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).expect("write postgresql.conf");
        self.stop();
        self.start_again();
    }

    /// The URL with `host` instead of 127.0.0.1 and `query` (e.g. `sslmode=verify-full`).
    pub fn url_for(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@{host}:{}/postgres?{query}",
            self.password, self.port
        )
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("server.log")).unwrap_or_default()
    }

    /// Starts the server (again) on the same data and port; waits until it accepts connections.
    pub fn start_again(&mut self) {
        let data = self.data_dir();
        let log = self.dir().join("server.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c shared_buffers=16MB \
             -c max_connections=60",
            self.port,
            self.dir().display()
        );
        self.run_checked(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        );
        self.running = true;
    }

    /// Stops the server (fast shutdown: connections are cut, the data is kept).
    pub fn stop(&mut self) {
        self.pg_ctl_stop("fast", true);
    }

    /// Stops the server as a crash would (immediate shutdown).
    pub fn kill(&mut self) {
        self.pg_ctl_stop("immediate", true);
    }

    /// Freezes the server and every backend (SIGSTOP): open connections stay open and nothing
    /// answers, as with a cut network. [`PgCluster::resume`] thaws them.
    pub fn pause(&self) {
        self.signal_all("-STOP");
    }

    /// Thaws what [`PgCluster::pause`] froze (SIGCONT).
    pub fn resume(&self) {
        self.signal_all("-CONT");
    }

    /// The postmaster's pid and its children's.
    pub fn pids(&self) -> Vec<u32> {
        let pidfile = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .expect("postmaster.pid (is the server running?)");
        let main: u32 = pidfile
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("a pid in postmaster.pid");
        // children from /proc (no procps needed): the 4th field of /proc/<pid>/stat is the ppid
        let mut pids = vec![main];
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(main) {
                pids.push(pid);
            }
        }
        pids
    }

    fn signal_all(&self, signal: &str) {
        let pids: Vec<String> = self.pids().iter().map(u32::to_string).collect();
        // the shell's builtin kill: no procps needed
        let status = Command::new("sh")
            .args(["-c", &format!("kill {signal} {}", pids.join(" "))])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pids:?} failed");
    }

    /// Runs `sql` with psql over the local socket as the superuser; returns its unaligned,
    /// tuples-only output, trimmed. Panics if psql fails.
    pub fn psql(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.run_checked(
            "psql",
            &[
                "-X".as_ref(),
                "-A".as_ref(),
                "-t".as_ref(),
                "-q".as_ref(),
                "-v".as_ref(),
                "ON_ERROR_STOP=1".as_ref(),
                "-h".as_ref(),
                self.dir().as_os_str(),
                "-p".as_ref(),
                port.as_ref(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "-d".as_ref(),
                "postgres".as_ref(),
                "-c".as_ref(),
                sql.as_ref(),
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn pg_ctl_stop(&mut self, mode: &str, check: bool) {
        let data = self.data_dir();
        let args: [&std::ffi::OsStr; 6] = [
            "-D".as_ref(),
            data.as_os_str(),
            "-m".as_ref(),
            mode.as_ref(),
            "-w".as_ref(),
            "stop".as_ref(),
        ];
        if check {
            self.run_checked("pg_ctl", &args);
        } else {
            let _ = self.command("pg_ctl", &args).output();
        }
        self.running = false;
    }

    fn command(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args).current_dir(self.dir());
        cmd
    }

    fn run_checked(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Output {
        let out = self
            .command(tool, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed ({}):\n{}\n{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            if let Ok(pids) = std::panic::catch_unwind(|| self.pids()) {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                let _ = Command::new("sh")
                    .args(["-c", &format!("kill -CONT {}", pids.join(" "))])
                    .status();
            }
            self.pg_ctl_stop("immediate", false);
        }
        // TempDir removes the data (root may remove the postgres user's files; so may the user).
    }
}

fn current_uid() -> u32 {
    id(&["-u"]).unwrap_or(u32::MAX)
}

fn user_id(name: &str) -> Option<(u32, u32)> {
    Some((id(&["-u", name])?, id(&["-g", name])?))
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A test CA and a server certificate it signed, in PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl TestPki {
    /// A fresh CA, and a server certificate from it for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: two test CAs are two issuers, not one with a wrong key.
        let serial: u32 = rand::thread_rng().gen();
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("mq-lease-service test CA {serial}"),
        );
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        let cert = params
            .signed_by(&key, &issuer)
            .expect("sign the server cert");
        TestPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        }
    }
}
