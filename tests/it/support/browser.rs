//! A small Chrome DevTools Protocol client for tests: headless Chromium driven over
//! `--remote-debugging-pipe` (commands on fd 3, replies and events on fd 4, messages ended by NUL), so
//! no websocket, no port and no crate beyond `libc` and `serde_json`.
// Each test file uses its own subset.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where Chromium is: `JINGTU_CHROMIUM`, else the usual Debian and Google paths.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("JINGTU_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A running headless Chromium with one page attached.
pub struct Browser {
    child: Child,
    to_browser: File,
    from_browser: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Every event received so far (console messages, exceptions, log entries, ...).
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid two-element array; O_CLOEXEC keeps our ends out of the child.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    (fds[0], fds[1])
}

impl Browser {
    /// Starts Chromium with the flags that make it quiet and offline, a fresh profile, and a page of
    /// `width` x `height` CSS pixels.
    pub fn launch(binary: &std::path::Path, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("profile folder");
        let (cmd_read, cmd_write) = pipe();
        let (evt_read, evt_write) = pipe();
        let mut command = Command::new(binary);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls (fcntl, dup2, close) are made.
        unsafe {
            command.pre_exec(move || {
                // Copy both ends above 10 first, so that dup2 onto 3 and 4 cannot clobber either.
                let a = libc::fcntl(cmd_read, libc::F_DUPFD, 10);
                let b = libc::fcntl(evt_write, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(a);
                libc::close(b);
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        // SAFETY: the descriptors come from pipe2 above and are owned here from now on.
        let (to_browser, from) = unsafe {
            libc::close(cmd_read);
            libc::close(evt_write);
            (File::from_raw_fd(cmd_write), File::from_raw_fd(evt_read))
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        buf.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            to_browser,
            from_browser: rx,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = browser.browser_call("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}));
        browser.session = attached["sessionId"].as_str().expect("sessionId").to_string();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).expect("json");
        bytes.push(0);
        self.to_browser.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_browser.recv_timeout(left) {
                Ok(v) if v["id"] == json!(id) => {
                    if let Some(e) = v.get("error") {
                        panic!("{method}: {e}");
                    }
                    return v["result"].clone();
                }
                Ok(v) => self.events.push(v),
                Err(RecvTimeoutError::Timeout) => panic!("{method}: no reply from chromium in 60 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("{method}: chromium closed the pipe"),
            }
        }
    }

    /// A browser-level command.
    pub fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(s))
    }

    /// Waits for an event of the page (returns it), keeping every other event.
    pub fn wait_event(&mut self, method: &str, timeout: Duration) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method && e["sessionId"] == self.session) {
            return self.events.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_browser.recv_timeout(left) {
                Ok(v) if v["method"] == method && v["sessionId"] == json!(self.session) => return v,
                Ok(v) => self.events.push(v),
                Err(_) => panic!("no {method} event within {timeout:?}"),
            }
        }
    }

    /// Loads `url` and waits for its load event.
    pub fn navigate(&mut self, url: &str) {
        self.events.retain(|e| e["method"] != "Page.loadEventFired");
        self.call("Page.navigate", json!({"url": url}));
        self.wait_event("Page.loadEventFired", Duration::from_secs(60));
    }

    /// Evaluates a JavaScript expression in the page and returns its value (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Clicks at the centre of the element `selector` picks, as a user would (mouse events at its
    /// position on screen, after scrolling it into view).
    pub fn click(&mut self, selector: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            sel = serde_json::to_string(selector).expect("json")
        ));
        let (x, y) =
            (rect[0].as_f64().unwrap_or_else(|| panic!("no element {selector}")), rect[1].as_f64().expect("y"));
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1}),
            );
        }
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        decode_base64(r["data"].as_str().expect("screenshot data"))
    }

    /// Console errors, uncaught exceptions and browser log errors (refused loads, CSP violations) so far.
    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Runtime.consoleAPICalled")
                    if matches!(e["params"]["type"].as_str(), Some("error" | "assert")) =>
                {
                    Some(format!("console: {}", e["params"]["args"]))
                }
                Some("Runtime.exceptionThrown") => Some(format!("exception: {}", e["params"]["exceptionDetails"])),
                Some("Log.entryAdded") if e["params"]["entry"]["level"] == "error" => {
                    Some(format!("log: {}", e["params"]["entry"]["text"]))
                }
                _ => None,
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.next_id += 1;
        let mut bytes =
            serde_json::to_vec(&json!({"id": self.next_id, "method": "Browser.close", "params": {}})).expect("json");
        bytes.push(0);
        let _ = self.to_browser.write_all(&bytes);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (what CDP returns screenshots in).
pub fn decode_base64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).expect("base64 from chromium")
}
