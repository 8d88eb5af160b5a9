//! TLS and authentication end to end, with real processes: a cluster, a `tesserad gateway`
//! with `[gateway.tls]` (a `tesserad dev-cert` pair) and `[gateway.auth]` (users made with
//! `tesserad user add`), driven by zeep over HTTPS on both ports (UsernameToken and HTTP
//! Basic through a requests session) and by the `tessera` CLI with `--cacert`; the user file
//! reloaded on change and on SIGHUP, a broken one leaving the previous in force; and every
//! start-up refusal of an unsafe or broken configuration, with its message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::{Options, TestCluster};
use tessera_node::config::{AuthMode, AuthSection, TlsSection};

/// Runs `tesserad ARGS` with `stdin`, to completion.
fn tesserad(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(harness::tesserad())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn add_user(users: &Path, name: &str, ids: &str) {
    let out = tesserad(
        &[
            "user",
            "add",
            "--users",
            users.to_str().unwrap(),
            "--name",
            name,
            "--ids",
            ids,
        ],
        &format!("{name}-password\n"),
    );
    assert!(out.status.success(), "{out:?}");
}

/// A `tesserad gateway` process, killed and reaped when dropped; its log goes to a file.
struct GatewayProcess {
    child: Child,
    log: PathBuf,
}

impl GatewayProcess {
    fn start(config: &Path, log: PathBuf) -> GatewayProcess {
        let child = Command::new(harness::tesserad())
            .args(["gateway", "--config", config.to_str().unwrap()])
            .env("TESSERA_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        GatewayProcess { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `count` lines containing `needle`.
    async fn wait_log(&self, needle: &str, count: usize) {
        let ok = harness::eventually(Duration::from_secs(15), || {
            self.log().matches(needle).count() >= count
        })
        .await;
        assert!(
            ok,
            "no {count}x {needle:?} in the gateway log:\n{}",
            self.log()
        );
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The `tessera` CLI with `args`, `env` set and everything else cleared that could leak in.
fn tessera<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(harness::tesserad().with_file_name("tessera"));
    cmd.args(args)
        .env_remove("TESSERA_URL")
        .env_remove("TESSERA_USER")
        .env_remove("TESSERA_PASSWORD")
        .env_remove("TESSERA_CACERT")
        .env("TESSERA_HISTORY", "")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn zeep(wsdl: &str, ca: &Path, port: &str, city: &str, source: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/zeep_auth.py");
    let out = Command::new(harness::python())
        .args([script, wsdl, ca.to_str().unwrap(), port, city, source])
        .output()
        .expect("run python (tests/run sets up .venv with zeep)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("PASS {port}")),
        "zeep over HTTPS on {port} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_authentication_with_zeep_the_cli_and_user_file_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out = tesserad(&["dev-cert", "--out", pki.to_str().unwrap()], "");
    assert!(out.status.success(), "{out:?}");
    let ca = pki.join("ca.pem");
    let users = dir.path().join("users");
    for (name, ids) in [
        ("admin", "MTLA0001,TORA0001"),
        ("alice", "MTLP0001,TORP0001"),
        ("bob", "MTLP0002,TORP0002"),
    ] {
        add_user(&users, name, ids);
    }
    let cluster = TestCluster::start_with(Options::default(), |cfg| {
        cfg.gateway.tls = Some(TlsSection {
            cert: pki.join("cert.pem"),
            key: pki.join("key.pem"),
        });
        cfg.gateway.auth = Some(AuthSection {
            mode: AuthMode::Required,
            users: Some(users.clone()),
        });
        let listen = cfg.gateway.listen;
        tessera_testkit::cluster::set_gateway(cfg, listen, true);
    });
    let gateway = GatewayProcess::start(&cluster.config_path, dir.path().join("gateway.log"));
    cluster.wait_gateway(Duration::from_secs(20)).await;
    gateway.wait_log("gateway up", 1).await;
    let url = cluster.endpoint();
    assert!(url.starts_with("https://"), "{url}");

    // zeep, one port per client address and city.
    let wsdl = format!("{url}?wsdl");
    for (port, city, source) in [
        ("ReservationSoapPort", "MTL", "127.0.0.2"),
        ("ReservationSoap12Port", "TOR", "127.0.0.3"),
    ] {
        let (wsdl, ca) = (wsdl.clone(), ca.clone());
        tokio::task::spawn_blocking(move || zeep(&wsdl, &ca, port, city, source))
            .await
            .unwrap();
    }

    // The CLI, with --cacert (or TESSERA_CACERT), with and without credentials.
    let cacert = ca.to_str().unwrap();
    let schedule = ["schedule", "--participant", "MTLP0001"];
    let with = |extra: &[&str]| -> Vec<String> {
        ["--url", url.as_str(), "--cacert", cacert]
            .iter()
            .chain(extra)
            .chain(&schedule)
            .map(|s| s.to_string())
            .collect()
    };
    let alice_pw = [("TESSERA_PASSWORD", "alice-password")];
    let r = tessera(&(with(&["--user", "alice"])), &alice_pw);
    assert_eq!(r.code, 0, "Basic: {}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("OK"), "{}", r.stdout);
    let r = tessera(
        &(with(&["--user", "alice", "--ws-security", "--raw"])),
        &alice_pw,
    );
    assert_eq!(r.code, 0, "UsernameToken: {}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("wsse:UsernameToken"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("alice-password"),
        "--raw showed the password"
    );
    let r = tessera(
        &(with(&["--raw"])),
        &[("TESSERA_USER", "alice"), alice_pw[0]],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Authorization: Basic (hidden)"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("alice-password"),
        "--raw showed the password"
    );
    let r = tessera(&(with(&[])), &[]);
    assert_eq!(r.code, 2, "no credentials: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("FailedAuthentication") && r.stderr.contains("HTTP 401"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--user"), "{}", r.stderr);
    let pw_file = dir.path().join("wrong.txt");
    std::fs::write(&pw_file, "not-bobs-password\n").unwrap();
    let r = tessera(
        &(with(&[
            "--user",
            "bob",
            "--password-file",
            pw_file.to_str().unwrap(),
        ])),
        &[],
    );
    assert_eq!(r.code, 2, "wrong password: {}", r.stderr);
    assert!(r.stderr.contains("wrong password"), "{}", r.stderr);
    let r = tessera(&(with(&["--user", "alice"])), &[]);
    assert_eq!(r.code, 2, "no password source: {}", r.stderr);
    assert!(r.stderr.contains("TESSERA_PASSWORD"), "{}", r.stderr);
    let r = tessera(
        &[
            "--url",
            &url,
            "--user",
            "alice",
            "schedule",
            "--participant",
            "MTLP0002",
        ],
        &[alice_pw[0], ("TESSERA_CACERT", cacert)],
    );
    assert_eq!(r.code, 2, "acting as bob: {}", r.stderr);
    assert!(
        r.stderr.contains("HTTP 403") && r.stderr.contains("participantID"),
        "{}",
        r.stderr
    );
    let r = tessera(
        &[
            "--url",
            &url,
            "--user",
            "alice",
            "schedule",
            "--participant",
            "MTLP0001",
        ],
        &alice_pw,
    );
    assert_eq!(r.code, 2, "unverifiable certificate: {}", r.stderr);
    assert!(
        r.stderr.contains("could not be verified") && r.stderr.contains("--cacert"),
        "{}",
        r.stderr
    );

    // On a terminal, without another password source, the CLI asks without echoing.
    let prompt = Command::new(harness::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/password_prompt.py"
        ))
        .args(["password for alice:", "alice-password"])
        .arg(harness::tesserad().with_file_name("tessera"))
        .args(["--url", &url, "--cacert", cacert, "--user", "alice"])
        .args(schedule)
        .env_remove("TESSERA_PASSWORD")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&prompt.stdout);
    assert!(prompt.status.success(), "prompted call: {shown}");
    assert!(
        shown.contains("[prompted: True]") && shown.contains("OK"),
        "{shown}"
    );
    assert!(
        !shown.contains("alice-password"),
        "the password was echoed: {shown}"
    );

    // The shell takes the same options (the password is read once, from the environment).
    let mut shell = Command::new(harness::tesserad().with_file_name("tessera"))
        .args([
            "--url",
            &url,
            "--cacert",
            cacert,
            "--user",
            "alice",
            "--ws-security",
            "shell",
        ])
        .env("TESSERA_PASSWORD", "alice-password")
        .env("TESSERA_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(b"schedule --participant MTLP0001\nschedule --participant MTLP0002\nexit\n")
        .unwrap();
    let out = shell.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.contains("OK"), "shell: {stdout}\n{stderr}");
    assert!(stderr.contains("HTTP 403"), "shell: {stdout}\n{stderr}");

    // A new user takes effect when the file changes...
    let carol = |env: &[(&str, &str)]| {
        tessera(
            &[
                "--url",
                &url,
                "--cacert",
                cacert,
                "--user",
                "carol",
                "schedule",
                "--participant",
                "VANP0003",
            ],
            env,
        )
    };
    let carol_pw = [("TESSERA_PASSWORD", "carol-password")];
    add_user(&users, "carol", "VANP0003");
    gateway.wait_log("user file reloaded", 1).await;
    let r = carol(&carol_pw);
    assert_eq!(r.code, 0, "carol after reload: {}", r.stderr);
    // ...a file that does not parse leaves the previous one in force...
    let good = std::fs::read_to_string(&users).unwrap();
    std::fs::write(&users, format!("{good}this line is not a user\n")).unwrap();
    gateway.wait_log("user file not reloaded", 1).await;
    let r = carol(&carol_pw);
    assert_eq!(r.code, 0, "carol with a broken file: {}", r.stderr);
    // ...and SIGHUP reloads too (here: the good file again, then carol removed).
    std::fs::write(&users, &good).unwrap();
    harness::signal_pid(gateway.child.id(), "HUP");
    gateway.wait_log("trigger=\"SIGHUP\"", 1).await;
    let out = tesserad(
        &[
            "user",
            "remove",
            "--users",
            users.to_str().unwrap(),
            "--name",
            "carol",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let reloads = gateway.log().matches("user file reloaded").count();
    gateway.wait_log("user file reloaded", reloads + 1).await;
    let r = carol(&carol_pw);
    assert_eq!(r.code, 2, "carol after removal: {}", r.stderr);
    assert!(r.stderr.contains("HTTP 401"), "{}", r.stderr);
    // Nothing in the log carries a password.
    let log = gateway.log();
    for secret in [
        "alice-password",
        "bob-password",
        "carol-password",
        "not-bobs-password",
    ] {
        assert!(!log.contains(secret), "the log holds {secret}");
    }
    assert!(log.contains("authentication failed"), "failures are logged");
    // Refusals are logged in the call's span, so each names the call's request id, though at
    // this level the gateway makes no span for calls that log nothing.
    for (what, needle) in [("refusal", "authentication failed"), ("403", "forbidden")] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(needle)).collect();
        assert!(!lines.is_empty(), "no {what} logged:\n{log}");
        for line in lines {
            assert!(
                line.contains("soap:") && line.contains("request_id=\"gw-"),
                "a {what} without its call's request id: {line}"
            );
        }
    }
}

/// `tesserad gateway` (and `up`) with `config`: must exit non-zero before listening, saying
/// each of `expected`.
fn refuses(config: &str, expected: &[&str], dir: &Path) {
    let path = dir.join("refused.toml");
    std::fs::write(&path, config).unwrap();
    for role in ["gateway", "up"] {
        let mut child = Command::new(harness::tesserad())
            .args([role, "--config", path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tesserad {role} started with:\n{config}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!status.success(), "tesserad {role} succeeded");
        for e in expected {
            assert!(
                stderr.contains(e),
                "tesserad {role}: no {e:?} in:\n{stderr}"
            );
        }
    }
}

#[test]
fn unsafe_or_broken_gateway_configurations_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = d.join("pki");
    assert!(tesserad(&["dev-cert", "--out", pki.to_str().unwrap()], "")
        .status
        .success());
    let other = d.join("other");
    assert!(
        tesserad(&["dev-cert", "--out", other.to_str().unwrap()], "")
            .status
            .success()
    );
    let users = d.join("users");
    add_user(&users, "alice", "MTLP0001");
    let data = format!("[cluster]\ndata_dir = \"{}\"\n", d.join("data").display());
    // TEST-NET-1 (RFC 5737): never bound, since every case is refused before listening.
    let exposed = "[gateway]\nlisten = \"192.0.2.1:8443\"\n";
    let local = "[gateway]\nlisten = \"127.0.0.1:1\"\n";
    let tls = |cert: &Path, key: &Path| {
        format!(
            "[gateway.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        )
    };
    let required = |users: &Path| {
        format!(
            "[gateway.auth]\nmode = \"required\"\nusers = \"{}\"\n",
            users.display()
        )
    };
    let good_tls = tls(&pki.join("cert.pem"), &pki.join("key.pem"));

    // No [gateway.auth] on a non-loopback address.
    refuses(
        &format!("{data}{exposed}"),
        &[
            "`gateway.auth`",
            "not a loopback address",
            "tesserad user add",
            "mode = \"off\"",
        ],
        d,
    );
    // Passwords in clear text over a network.
    refuses(
        &format!("{data}{exposed}{}", required(&users)),
        &["`gateway.tls`", "clear text", "tesserad dev-cert"],
        d,
    );
    // Missing certificate file.
    refuses(
        &format!(
            "{data}{local}{}{}",
            tls(&d.join("nope.pem"), &pki.join("key.pem")),
            required(&users)
        ),
        &["`gateway.tls.cert`", "nope.pem"],
        d,
    );
    // A key that is not the certificate's.
    refuses(
        &format!(
            "{data}{local}{}",
            tls(&pki.join("cert.pem"), &other.join("key.pem"))
        ),
        &["`gateway.tls.cert`", "does not belong"],
        d,
    );
    // A file that is no key.
    refuses(
        &format!(
            "{data}{local}{}",
            tls(&pki.join("cert.pem"), &pki.join("ca.pem"))
        ),
        &["`gateway.tls.key`", "no PEM private key"],
        d,
    );
    // An expired certificate.
    let expired = d.join("expired");
    std::fs::create_dir_all(&expired).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(expired.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(expired.join("key.pem"), key.serialize_pem()).unwrap();
    refuses(
        &format!(
            "{data}{local}{}",
            tls(&expired.join("cert.pem"), &expired.join("key.pem"))
        ),
        &["`gateway.tls.cert`", "expired"],
        d,
    );
    // A missing user file, and one that does not parse.
    refuses(
        &format!("{data}{local}{good_tls}{}", required(&d.join("no-users"))),
        &["`gateway.auth.users`", "no-users"],
        d,
    );
    let broken = d.join("broken-users");
    std::fs::write(&broken, "# users\nalice:plaintext:MTLP0001\n").unwrap();
    refuses(
        &format!("{data}{local}{good_tls}{}", required(&broken)),
        &["`gateway.auth.users`", "line 2", "argon2id"],
        d,
    );
    // mode = "required" without a user file, and an unknown mode: named keys.
    refuses(
        &format!("{data}{local}[gateway.auth]\nmode = \"required\"\n"),
        &["`gateway.auth.users`"],
        d,
    );
    refuses(
        &format!("{data}{local}[gateway.auth]\nmode = \"maybe\"\n"),
        &["maybe", "mode"],
        d,
    );
}
