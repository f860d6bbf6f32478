//! The running mail stack: started once per test run by `bin/mail-stack` (or the one
//! `MAIL_STACK_ENV` names), its `stack.env` parsed into typed fields, and fresh mailboxes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use mail_mcp::mail::{Endpoint, MailAccount, Security, ServerLogin};
use rand::Rng;
use rand::distr::Alphanumeric;
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The mail stack of `bin/mail-stack`, as described by its `stack.env`.
pub struct Stack {
    /// The stack's directory (logs, configuration, mail).
    pub dir: PathBuf,
    /// Where every service listens: `127.0.0.1`.
    pub host: String,
    /// The local mail domain, `example.test`.
    pub domain: String,
    /// IMAP without TLS (STARTTLS offered, plaintext login allowed).
    pub imap_port: u16,
    /// IMAP over implicit TLS.
    pub imaps_port: u16,
    /// SMTP submission: STARTTLS required, then AUTH.
    pub submission_port: u16,
    /// SMTP submission over implicit TLS.
    pub smtps_port: u16,
    /// Inbound SMTP without auth; accepts mail for the local domain only.
    pub smtp_port: u16,
    /// PEM of the CA that signed every server certificate of the stack.
    pub ca_file: PathBuf,
    /// `http://127.0.0.1:PORT` of the S3-compatible server (path-style, SigV4 checked).
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_bucket: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// `redis://127.0.0.1:PORT`
    pub redis_url: String,
    /// One Dovecot passwd-file per mailbox, named by its address and holding its
    /// `email:{PLAIN}password::::::` line; a new file is seen at once.
    pub users_dir: PathBuf,
    /// A passwd-file of further mailboxes (one line each); Dovecot looks for changes at
    /// most once a second, so prefer [`Stack::new_user`].
    pub users_file: PathBuf,
    /// The mailbox that receives all mail for addresses outside the local domain.
    pub catchall: TestUser,
    /// Every KEY=VALUE of `stack.env`, for keys without a field.
    pub vars: HashMap<String, String>,
    tls: Arc<ClientConfig>,
}

/// One mailbox of the stack; its address is its IMAP and SMTP login.
#[derive(Clone)]
pub struct TestUser {
    pub email: String,
    pub password: String,
}

impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

static STACK: OnceLock<Result<Stack, String>> = OnceLock::new();

/// The stack of this test binary. The first call starts `bin/mail-stack start --watch-pid
/// <this process>` (the watcher stops it when the binary exits), unless `MAIL_STACK_ENV`
/// names the `stack.env` of a stack already running. Panics, with the script's error, when
/// there is no stack.
pub fn stack() -> &'static Stack {
    let stack = STACK.get_or_init(|| match std::env::var_os("MAIL_STACK_ENV") {
        Some(env) => Stack::from_env_file(Path::new(&env)),
        None => Stack::start(),
    });
    match stack {
        Ok(stack) => stack,
        Err(e) => panic!("no mail stack: {e}"),
    }
}

impl Stack {
    fn start() -> Result<Stack, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/mail-stack");
        let out = Command::new(&script)
            .args(["start", "--watch-pid", &std::process::id().to_string()])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} start failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let env = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Stack::from_env_file(Path::new(&env))
    }

    /// Reads a `stack.env` written by `bin/mail-stack start`.
    pub fn from_env_file(path: &Path) -> Result<Stack, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let vars: HashMap<String, String> = text
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.to_string()))
            .collect();
        let get = |key: &str| {
            vars.get(key)
                .cloned()
                .ok_or_else(|| format!("{} has no {key}", path.display()))
        };
        let port = |key: &str| {
            get(key)?
                .parse::<u16>()
                .map_err(|e| format!("{key} in {}: {e}", path.display()))
        };
        let ca_file = PathBuf::from(get("CA_FILE")?);
        Ok(Stack {
            dir: PathBuf::from(get("MAIL_STACK_DIR")?),
            host: get("MAIL_HOST")?,
            domain: get("MAIL_DOMAIN")?,
            imap_port: port("IMAP_PORT")?,
            imaps_port: port("IMAPS_PORT")?,
            submission_port: port("SUBMISSION_PORT")?,
            smtps_port: port("SMTPS_PORT")?,
            smtp_port: port("SMTP_PORT")?,
            tls: client_tls_config(&ca_file)?,
            ca_file,
            s3_endpoint: get("S3_ENDPOINT")?,
            s3_region: get("S3_REGION")?,
            s3_bucket: get("S3_BUCKET")?,
            s3_access_key_id: get("S3_ACCESS_KEY_ID")?,
            s3_secret_access_key: get("S3_SECRET_ACCESS_KEY")?,
            redis_url: get("REDIS_URL")?,
            users_dir: PathBuf::from(get("USERS_DIR")?),
            users_file: PathBuf::from(get("USERS_FILE")?),
            catchall: TestUser {
                email: get("CATCHALL_USER")?,
                password: get("CATCHALL_PASSWORD")?,
            },
            vars,
        })
    }

    /// A new mailbox `<prefix>-<pid>-<n>-<tag>@example.test` with a random password,
    /// usable at once for IMAP, submission and delivery. Names never repeat, even on a
    /// stack shared by several runs or test binaries (`tag` is random per process).
    ///
    /// The mailbox's passwd-file line goes to its own file in `users_dir`, written under a
    /// temporary name and renamed into place: no other writer touches that file and Dovecot
    /// sees it whole or not at all, so parallel tests need no lock. (Dovecot notices
    /// changes to one shared passwd-file only once a second.)
    pub fn new_user(&self, prefix: &str) -> TestUser {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        static TAG: OnceLock<String> = OnceLock::new();

        let tag = TAG.get_or_init(|| random_string(4).to_ascii_lowercase());
        let mut local: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect::<String>()
            .to_ascii_lowercase();
        if local.is_empty() {
            local.push_str("user");
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let user = TestUser {
            email: format!("{local}-{}-{n}-{tag}@{}", std::process::id(), self.domain),
            password: random_string(24),
        };
        self.create_mailboxes(&user.email);
        let line = format!("{}:{{PLAIN}}{}::::::\n", user.email, user.password);
        let path = self.users_dir.join(&user.email);
        let tmp = self.users_dir.join(format!(".new.{}", user.email));
        std::fs::write(&tmp, line)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .unwrap_or_else(|e| panic!("cannot add {}: {e}", path.display()));
        user
    }

    /// Creates the user's Maildir with INBOX and the special folders before the user exists,
    /// owned like the rest of the mail store. Otherwise the first SMTP delivery and the
    /// first IMAP login can both try to create them and one fails with ALREADYEXISTS.
    fn create_mailboxes(&self, email: &str) {
        use std::os::unix::fs::MetadataExt;
        let (local, domain) = email.split_once('@').expect("an address");
        let store = self.dir.join("mail");
        let owner = std::fs::metadata(&store).unwrap_or_else(|e| panic!("mail store: {e}"));
        let maildir = store.join(domain).join(local).join("Maildir");
        let folders = ["", "Sent", "Drafts", "Trash", "Junk", "Archive"];
        for folder in folders {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(maildir.join(folder).join(sub))
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", maildir.display()));
            }
        }
        let mut owned = vec![store.join(domain), store.join(domain).join(local)];
        for folder in folders {
            let dir = maildir.join(folder);
            owned.extend(["cur", "new", "tmp"].map(|sub| dir.join(sub)));
            owned.push(dir);
        }
        for path in owned {
            std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid()))
                .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
        }
    }

    /// A rustls client configuration (aws-lc-rs) that trusts the stack's test CA only.
    pub fn tls_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.tls)
    }

    /// The PEM of the stack's test CA.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca_file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.ca_file.display()))
    }

    /// The account of `user` as the app sees it: IMAPS and submission with STARTTLS.
    pub fn mail_account(&self, user: &TestUser) -> MailAccount {
        let login = |port, security| ServerLogin {
            endpoint: Endpoint::new(self.host.clone(), port, security),
            username: user.email.clone(),
            password: user.password.clone(),
        };
        MailAccount {
            email: user.email.clone(),
            display_name: None,
            identities: Vec::new(),
            imap: login(self.imaps_port, Security::Tls),
            smtp: login(self.submission_port, Security::Starttls),
        }
    }
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn client_tls_config(ca_file: &Path) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("cannot read {}: {e}", ca_file.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("bad PEM in {}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate in {}: {e}", ca_file.display()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The second IMAP server of the stack ("basic"): a Dovecot without MOVE, UIDPLUS and
/// SPECIAL-USE, with '.' as separator and every personal folder below `INBOX.`, as
/// Courier and many hosted servers are. Same users and passwords as the first.
impl Stack {
    /// The basic server's IMAPS port (`BASIC_IMAPS_PORT` in the env file).
    pub fn basic_imaps_port(&self) -> u16 {
        self.vars
            .get("BASIC_IMAPS_PORT")
            .and_then(|port| port.parse().ok())
            .expect("the stack env file has BASIC_IMAPS_PORT: restart the stack")
    }

    /// The account of `user` on the basic server: its IMAPS, the stack's submission.
    pub fn basic_mail_account(&self, user: &TestUser) -> MailAccount {
        let mut account = self.mail_account(user);
        account.imap.endpoint =
            Endpoint::new(self.host.clone(), self.basic_imaps_port(), Security::Tls);
        account
    }
}

/// Redis databases of their own, for tests whose server counts per client address.
impl Stack {
    /// The URL of a database of the stack's redis-server (1 to 15; 0 is the one of
    /// `redis_url`) that no other call of this process gets. A server keeps its counters
    /// (token requests and failed logins per IP) under fixed keys, and every test server
    /// connects from 127.0.0.1: on a shared database one test's traffic (e.g. the attack
    /// suite's thousands of refreshes) would throttle another's.
    pub fn own_redis_url(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let db = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            db < 16,
            "redis-server has 16 databases: 15 tests may own one"
        );
        format!("{}/{db}", self.redis_url)
    }
}
