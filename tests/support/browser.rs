//! A real browser for the explorer page's tests: Debian's Chromium, headless, driven over
//! WebDriver (chromedriver, through `fantoccini`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::TempDir;

/// chromedriver on a free loopback port, killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
    profile: TempDir,
}

impl Driver {
    pub fn start() -> Driver {
        for exe in ["/usr/bin/chromedriver", "/usr/bin/chromium"] {
            assert!(
                std::path::Path::new(exe).exists(),
                "{exe} is missing: scripts/setup installs Debian's chromium and chromium-driver"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        Driver {
            child,
            port,
            profile: TempDir::new("chromium-profile"),
        }
    }

    pub async fn browser(&self) -> Client {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1366,1000",
            &format!("--user-data-dir={}", self.profile.0.display()),
        ];
        let caps = json!({
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args }
        });
        let caps = caps.as_object().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await
            {
                Ok(c) => return c,
                // chromedriver may not listen yet.
                Err(e) if Instant::now() < deadline => {
                    eprintln!("waiting for chromedriver: {e}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => panic!("cannot start a browser session: {e}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of the first element matching `css` once `ok` accepts it, or a panic naming what the
/// page showed instead.
pub async fn text_when(
    c: &Client,
    css: &str,
    timeout: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if let Ok(t) = el.text().await {
                if ok(&t) {
                    return t;
                }
                last = t;
            }
        }
        if Instant::now() > deadline {
            let page = match c.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("{css}: not as expected within {timeout:?} (last {last:?}); page:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn search(c: &Client, q: &str) {
    let input = c.find(Locator::Css("#q")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(q).await.unwrap();
    click(c, "#search button").await;
}

/// Clicks the first element matching `css`, retrying while the page re-renders under it.
pub async fn click(c: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let done = match c.find(Locator::Css(css)).await {
            Ok(el) => el.click().await.is_ok(),
            Err(_) => false,
        };
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "cannot click {css}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The text of `css` now, if it is on the page.
pub async fn text_of(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("NEUROSHARD_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}
