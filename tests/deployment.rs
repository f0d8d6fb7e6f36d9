//! Deployment as operators run it, with the real programs: the shipped nginx files pass
//! `nginx -t`, the systemd unit passes `systemd-analyze verify`, the Apache sample passes
//! `apache2 -t`; wampd runs under a real supervisord with the shipped program block (restarted
//! after `kill -9`, drained and exited 0 by `supervisorctl stop`); and headless Chromium opens the
//! demo page through a real nginx over `wss://…/ws` and shows an event a backend published over
//! HTTP (screenshot kept in `target/deploy-artefacts/`).
//!
//! Missing programs are installed with apt-get (nginx, supervisor, chromium, apache2, systemd),
//! playwright-core and autobahn-browser with npm into `target/deploy-node`. Everything listens on
//! ephemeral loopback ports.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::system_program as ensure;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// A shipped deployment file from `supervisor/`.
fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("supervisor")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced, asserting that it occurs (so a changed shipped file fails here
/// instead of silently testing something else).
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "expected {from:?} in the shipped file");
    text.replace(from, to)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Kills and reaps a child process when dropped, so a failing test leaves nothing running.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` and returns (success, stdout + stderr).
fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("the program runs");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// An nginx main configuration around `site`, everything in `dir`.
fn nginx_main(dir: &Path, site: &Path) -> PathBuf {
    let d = dir.display();
    let conf = format!(
        "daemon off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           types {{ text/javascript js; }}\n  include {};\n}}\n",
        site.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    path
}

fn nginx_test(nginx: &Path, dir: &Path, main: &Path) -> (bool, String) {
    run(Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(main)
        .arg("-e")
        .arg(dir.join("error.log")))
}

/// The shipped site with the test's certificate.
fn site_with_certificate(dir: &Path) -> String {
    let (cert, key) = common::self_signed_certificate(dir);
    let site = substitute(
        &shipped("nginx-wampd.conf"),
        "/etc/ssl/certs/wampd.pem",
        &cert.display().to_string(),
    );
    substitute(
        &site,
        "/etc/ssl/private/wampd.key",
        &key.display().to_string(),
    )
}

#[test]
fn shipped_nginx_files_pass_nginx_t() {
    let nginx = ensure("nginx", "nginx");
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("site.conf");
    std::fs::write(&site, site_with_certificate(dir.path())).expect("write site");
    let (ok, out) = nginx_test(&nginx, dir.path(), &nginx_main(dir.path(), &site));
    assert!(ok, "nginx -t on nginx-wampd.conf:\n{out}");
    assert!(out.contains("test is successful"), "{out}");

    let upstream = dir.path().join("upstream.conf");
    std::fs::write(&upstream, shipped("nginx-wampd-upstream.conf")).expect("write");
    let (ok, out) = nginx_test(&nginx, dir.path(), &nginx_main(dir.path(), &upstream));
    assert!(ok, "nginx -t on nginx-wampd-upstream.conf:\n{out}");

    // the check can fail: a broken site is refused
    std::fs::write(&site, "server { location /ws { proxy_pass; } }").expect("write");
    let (ok, _) = nginx_test(&nginx, dir.path(), &nginx_main(dir.path(), &site));
    assert!(!ok, "nginx -t accepted a broken site");

    // what the site promises: the upgrade headers, the real client, a read timeout above the
    // ping interval (25 s)
    let text = shipped("nginx-wampd.conf");
    for needle in [
        "location /ws",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $wampd_connection;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "listen 443 ssl;",
    ] {
        assert!(text.contains(needle), "nginx-wampd.conf lacks {needle:?}");
    }
    for line in text
        .lines()
        .filter(|l| l.trim().starts_with("proxy_read_timeout"))
    {
        let secs: u64 = line
            .trim()
            .trim_start_matches("proxy_read_timeout")
            .trim()
            .trim_end_matches(';')
            .trim_end_matches('s')
            .parse()
            .expect("proxy_read_timeout in seconds");
        assert!(
            secs > 25,
            "proxy_read_timeout {secs}s is not above the ping interval"
        );
    }
}

#[test]
fn shipped_systemd_unit_passes_systemd_analyze_verify() {
    let analyze = ensure("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = substitute(
        &shipped("wampd.service"),
        "/usr/local/bin/wampd",
        env!("CARGO_BIN_EXE_wampd"),
    );
    let unit = substitute(&unit, "/srv/wampd", &dir.path().display().to_string());
    for needle in [
        "Restart=always",
        "KillSignal=SIGTERM",
        "NoNewPrivileges=true",
    ] {
        assert!(unit.contains(needle), "wampd.service lacks {needle}");
    }
    let path = dir.path().join("wampd.service");
    std::fs::write(&path, &unit).expect("write unit");
    let (ok, out) = run(Command::new(&analyze).arg("verify").arg(&path));
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );

    // the check can fail: an unknown option is reported
    std::fs::write(&path, unit.replace("Restart=always", "Restart=sometimes")).expect("write");
    let (ok, out) = run(Command::new(&analyze).arg("verify").arg(&path));
    assert!(!ok || !out.trim().is_empty(), "a bad unit passed: {out}");

    // TimeoutStopSec leaves room for the drain deadline
    assert!(
        seconds_of(&unit, "TimeoutStopSec=") > seconds_of(&unit, "WEBSOCKET_SHUTDOWN_TIMEOUT="),
        "TimeoutStopSec must exceed WEBSOCKET_SHUTDOWN_TIMEOUT"
    );
}

/// The whole seconds after `key` on its line (`15`, `10s`, `"10s"`).
fn seconds_of(text: &str, key: &str) -> u64 {
    let rest = text
        .split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("{key} missing"));
    rest.trim_start_matches('"')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key}"))
}

#[test]
fn shipped_apache_sample_passes_apache2_t() {
    let apache = ensure("apache2", "apache2");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = common::self_signed_certificate(dir.path());
    let site = substitute(
        &shipped("apache-wampd.conf"),
        "/etc/ssl/certs/wampd.pem",
        &cert.display().to_string(),
    );
    let site = substitute(
        &site,
        "/etc/ssl/private/wampd.key",
        &key.display().to_string(),
    );
    assert!(site.contains("\"ws://127.0.0.1:8080/ws\""));
    let site_path = dir.path().join("site.conf");
    std::fs::write(&site_path, site).expect("write site");
    let modules = "/usr/lib/apache2/modules";
    let d = dir.path().display();
    let main = format!(
        "ServerRoot {d}\nServerName localhost\nPidFile {d}/apache.pid\nErrorLog {d}/error.log\nListen 127.0.0.1:{port}\n\
         LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
         LoadModule authz_core_module {modules}/mod_authz_core.so\n\
         LoadModule headers_module {modules}/mod_headers.so\n\
         LoadModule proxy_module {modules}/mod_proxy.so\n\
         LoadModule proxy_http_module {modules}/mod_proxy_http.so\n\
         LoadModule proxy_wstunnel_module {modules}/mod_proxy_wstunnel.so\n\
         LoadModule ssl_module {modules}/mod_ssl.so\n\
         Include {}\n",
        site_path.display(),
        port = free_port(),
    );
    let main_path = dir.path().join("apache.conf");
    std::fs::write(&main_path, &main).expect("write apache.conf");
    let (ok, out) = run(Command::new(&apache).arg("-t").arg("-f").arg(&main_path));
    assert!(ok && out.contains("Syntax OK"), "apache2 -t:\n{out}");
    // without mod_proxy_wstunnel the ws:// ProxyPass has no handler: prove the check sees modules
    std::fs::write(
        &main_path,
        main.replace("LoadModule proxy_module", "#LoadModule proxy_module"),
    )
    .expect("write");
    let (ok, _) = run(Command::new(&apache).arg("-t").arg("-f").arg(&main_path));
    assert!(!ok, "apache2 -t passed without mod_proxy");
}

/// supervisord in the foreground with the shipped program block included.
struct Supervisor {
    conf: PathBuf,
    _process: Reaper,
    output: Receiver<String>,
    ctl: PathBuf,
}

impl Supervisor {
    fn ctl(&self, args: &[&str]) -> (bool, String) {
        run(Command::new(&self.ctl).arg("-c").arg(&self.conf).args(args))
    }

    fn pid(&self) -> Option<u32> {
        let (_, out) = self.ctl(&["pid", "wampd"]);
        out.trim().parse().ok().filter(|pid| *pid > 0)
    }

    /// Lines supervisord (and wampd through it) wrote to stdout so far.
    fn drain(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }
}

fn health(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    std::io::Write::write_all(
        &mut stream,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.starts_with("HTTP/1.1 200").then_some(text)
}

#[test]
fn wampd_under_supervisord_restarts_after_kill_9_and_drains_on_stop() {
    let supervisord = ensure("supervisord", "supervisor");
    let supervisorctl = ensure("supervisorctl", "supervisor");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let port = free_port();
    // the application directory's .env-app, as in an Oro install
    std::fs::write(
        dir.path().join(".env-app"),
        format!(
            "WEBSOCKET_SERVER_DSN=//127.0.0.1:{port}\nWEBSOCKET_BACKEND_DSN=\nWEBSOCKET_AUTHORIZATION_DEFAULT=open\n"
        ),
    )
    .expect("write .env-app");

    let block = shipped("wampd.conf");
    // stopwaitsecs must leave room for the drain deadline, or supervisord SIGKILLs mid-drain
    assert!(
        seconds_of(&block, "stopwaitsecs=") > seconds_of(&block, "WEBSOCKET_SHUTDOWN_TIMEOUT="),
        "stopwaitsecs must exceed WEBSOCKET_SHUTDOWN_TIMEOUT"
    );
    for needle in [
        "autostart=true",
        "autorestart=true",
        "stopsignal=TERM",
        "stdout_logfile=/dev/stdout",
    ] {
        assert!(block.contains(needle), "wampd.conf lacks {needle}");
    }
    let block = substitute(&block, "/usr/local/bin/wampd", env!("CARGO_BIN_EXE_wampd"));
    let block = substitute(&block, "directory=/srv/wampd", &format!("directory={d}"));
    // the test machine runs as whoever runs cargo
    let block = substitute(&block, "user=www-data", "");
    let program = dir.path().join("wampd.conf");
    std::fs::write(&program, block).expect("write program block");
    let conf = dir.path().join("supervisord.conf");
    std::fs::write(
        &conf,
        format!(
            "[supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\nchildlogdir={d}\n\
             [unix_http_server]\nfile={d}/supervisor.sock\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n\
             [include]\nfiles = {}\n",
            program.display()
        ),
    )
    .expect("write supervisord.conf");

    let mut child = Command::new(&supervisord)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("supervisord starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let sup = Supervisor {
        conf,
        _process: Reaper(child),
        output: rx,
        ctl: supervisorctl,
    };

    // autostart: wampd comes up and answers
    assert!(
        wait_for_port(port, Duration::from_secs(15)),
        "wampd did not start under supervisord: {:?}",
        sup.drain()
    );
    assert!(health(port).is_some());
    let first = sup.pid().expect("wampd's pid");

    // kill -9: supervisord restarts it within seconds
    let killed = Instant::now();
    assert!(run(Command::new("kill").args(["-9", &first.to_string()])).0);
    let mut restarted = None;
    while killed.elapsed() < Duration::from_secs(10) {
        if let Some(pid) = sup.pid().filter(|pid| *pid != first) {
            if health(port).is_some() {
                restarted = Some(pid);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let restarted = restarted.expect("wampd restarted after kill -9");
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(5), "restart took {took:?}");
    eprintln!("restarted as pid {restarted} after {took:?}");

    // a connected WAMP session is told GOODBYE system_shutdown when supervisorctl stops wampd
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut client = runtime.block_on(common::Client::join_at(
        addr,
        wampd_proto::wamp::Serializer::Json,
    ));
    let (ok, out) = sup.ctl(&["stop", "wampd"]);
    assert!(ok && out.contains("stopped"), "supervisorctl stop: {out}");
    let goodbye = runtime.block_on(async {
        let (seen, _) = client.expect_close().await;
        seen.into_iter().any(|m| {
            matches!(m, wampd_proto::wamp::Message::Goodbye { ref reason, .. } if reason == "wamp.close.system_shutdown")
        })
    });
    assert!(
        goodbye,
        "no GOODBYE wamp.close.system_shutdown before the stop"
    );
    let log = std::fs::read_to_string(dir.path().join("supervisord.log")).unwrap_or_default();
    assert!(
        log.contains("stopped: wampd (exit status 0)"),
        "supervisord.log:\n{log}"
    );
    assert!(
        log.contains("exited: wampd (terminated by SIGKILL; not expected)"),
        "{log}"
    );
    // wampd's own log lines went to stdout, through supervisord
    let lines = sup.drain();
    assert!(
        lines.iter().any(|l| l.contains("Server stopped!")),
        "wampd's log is not on supervisord's stdout: {lines:?}"
    );
    assert!(health(port).is_none(), "wampd still answers after stop");
}

/// playwright-core and autobahn-browser in `target/deploy-node`, installed with npm on first use.
fn deploy_node_modules() -> PathBuf {
    let dir = target_dir().join("deploy-node");
    let modules = dir.join("node_modules");
    let ready = ["playwright-core", "autobahn-browser"]
        .iter()
        .all(|p| modules.join(p).join("package.json").exists());
    if !ready {
        std::fs::create_dir_all(&dir).expect("create target/deploy-node");
        let status = Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "--loglevel=error"])
            .args(["playwright-core@^1", "autobahn-browser@22.11.1"])
            .status()
            .expect("npm is installed");
        assert!(
            status.success(),
            "npm install playwright-core autobahn-browser failed"
        );
    }
    modules
}

#[test]
fn chromium_shows_a_backend_event_on_the_demo_page_through_nginx_wss() {
    let nginx = ensure("nginx", "nginx");
    let chromium = ensure("chromium", "chromium");
    let modules = deploy_node_modules();
    let autobahn = modules.join("autobahn-browser").join("autobahn.min.js");
    assert!(autobahn.exists(), "{}", autobahn.display());

    // wampd with the demo on and the default authorization policy: the browser may only
    // subscribe; the clock publishes internally and the backend over HTTP from loopback
    let mut command = Command::new(env!("CARGO_BIN_EXE_wampd"));
    command
        .args(["websocket:server", "--env=prod", "-vv"])
        .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
        .env("WEBSOCKET_BACKEND_DSN", "")
        .env("WEBSOCKET_DEMO", "true")
        .env("WEBSOCKET_DEMO_AUTOBAHN_URL", "/autobahn.min.js")
        .env("WEBSOCKET_TRUSTED_PROXIES", "127.0.0.1")
        .env("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard");
    let (wampd, addr, wampd_log) = common::spawn_wampd(command);
    let _wampd = Reaper(wampd);

    // nginx from the shipped site: loopback ports, the test certificate, wampd's address, and
    // autobahn-browser served from npm's copy (the machine cannot reach CDNs)
    let dir = tempfile::tempdir().expect("tempdir");
    let (http_port, https_port) = (free_port(), free_port());
    let mut site = site_with_certificate(dir.path());
    site = substitute(&site, "server 127.0.0.1:8080;", &format!("server {addr};"));
    site = substitute(
        &site,
        "listen 80;",
        &format!("listen 127.0.0.1:{http_port};"),
    );
    site = substitute(
        &site,
        "listen 443 ssl;",
        &format!("listen 127.0.0.1:{https_port} ssl;"),
    );
    site = substitute(&site, "listen [::]:80;", "");
    site = substitute(&site, "listen [::]:443 ssl;", "");
    site = substitute(
        &site,
        "    location /ws {",
        &format!(
            "    location = /autobahn.min.js {{ alias {}; }}\n    location /ws {{",
            autobahn.display()
        ),
    );
    let site_path = dir.path().join("site.conf");
    std::fs::write(&site_path, site).expect("write site");
    let main = nginx_main(dir.path(), &site_path);
    let (ok, out) = nginx_test(&nginx, dir.path(), &main);
    assert!(ok, "nginx -t on the generated configuration:\n{out}");
    let nginx_child = Command::new(&nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&main)
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let _nginx = Reaper(nginx_child);
    assert!(
        wait_for_port(https_port, Duration::from_secs(10)),
        "nginx did not listen: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );

    let artefacts = target_dir().join("deploy-artefacts");
    std::fs::create_dir_all(&artefacts).expect("create target/deploy-artefacts");
    let screenshot = artefacts.join("demo-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/demo_browser.js");
    let page_url = format!("https://127.0.0.1:{https_port}/ws/");
    let publish_url = format!("http://{addr}/publish");
    let mut browser = Command::new("node")
        .arg(&script)
        .arg(&page_url)
        .arg(&publish_url)
        .arg(&screenshot)
        .arg(&chromium)
        .env("NODE_PATH", &modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = browser.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = browser.kill();
            let _ = browser.wait();
            panic!("the browser script did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = browser.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = browser.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let logs: Vec<String> = wampd_log.try_iter().collect();
    assert!(
        status.success(),
        "browser script failed: {stdout}\n{stderr}\nwampd: {logs:#?}\nnginx: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let field = |name: &str| result[name].as_str().unwrap_or_default().to_owned();
    assert_eq!(field("wsUrl"), format!("wss://127.0.0.1:{https_port}/ws"));
    assert_ne!(field("time1"), field("time2"), "the clock ticks");
    assert_eq!(result["publishStatus"], 200);
    assert!(
        field("notification")
            .ends_with("Deploy finished <img src=x onerror=\"document.title='pwned'\">"),
        "{result}"
    );
    assert_eq!(result["images"], 0, "event text must not become HTML");
    // Recovery: the notification published while the page's connection was cut is shown after
    // it reconnected (the page subscribed from the last position it had shown), once.
    assert_eq!(result["missedStatus"], 200);
    assert!(
        field("recovered").ends_with("published while the page was away"),
        "{result}"
    );
    assert_eq!(result["shown"], 2, "{result}");
    assert!(
        field("resumedStatus").contains("resumed after offset 1"),
        "{result}"
    );
    assert_eq!(field("title"), "wampd demo");
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    eprintln!("screenshot: {} ({} bytes)", screenshot.display(), png.len());
}
