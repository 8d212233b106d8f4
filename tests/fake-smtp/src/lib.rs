//! Fake mail providers for tests. [`apis`]: SendGrid's v3 mail send and Mailgun's messages API.
//! This file: a fake SMTP server: it speaks enough of RFC 5321 for a real client (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT, no TLS, no auth), keeps every message it accepted, and has fault
//! switches: refuse the next N messages with a 4xx (transient) or 5xx (permanent), or stop
//! listening and come back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod apis;

use mail_parser::MimeHeaders;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed).
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a parsable message")
    }
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }
    pub fn html(&self) -> String {
        self.parsed()
            .body_html(0)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }
    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }
    /// `(file name, content type, bytes)` of each attachment.
    pub fn attachments(&self) -> Vec<(String, String, Vec<u8>)> {
        let m = self.parsed();
        m.attachments()
            .map(|a| {
                let ct = a
                    .content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                    .unwrap_or_default();
                (
                    a.attachment_name().unwrap_or_default().to_string(),
                    ct,
                    a.contents().to_vec(),
                )
            })
            .collect()
    }
}

struct State {
    received: Mutex<Vec<Received>>,
    refuse_next: AtomicU32,
    refuse_code: AtomicU16,
}

pub struct FakeSmtp {
    pub port: u16,
    state: Arc<State>,
    stop: Mutex<watch::Sender<bool>>,
}

impl FakeSmtp {
    /// Listens on 127.0.0.1:`port` (0 for any).
    pub async fn start(port: u16) -> std::io::Result<FakeSmtp> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            received: Mutex::new(Vec::new()),
            refuse_next: AtomicU32::new(0),
            refuse_code: AtomicU16::new(451),
        });
        let (stop, rx) = watch::channel(false);
        tokio::spawn(serve(listener, state.clone(), rx));
        Ok(FakeSmtp {
            port,
            state,
            stop: Mutex::new(stop),
        })
    }

    /// Stops listening (connections are refused) until [`FakeSmtp::resume`].
    pub fn pause(&self) {
        let _ = self.stop.lock().unwrap().send(true);
    }

    /// Listens again on the same port.
    pub async fn resume(&self) -> std::io::Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        let (stop, rx) = watch::channel(false);
        *self.stop.lock().unwrap() = stop;
        tokio::spawn(serve(listener, self.state.clone(), rx));
        Ok(())
    }

    /// Answers the next `n` messages with `code` (4xx: try later; 5xx: refused for good).
    pub fn refuse_next(&self, n: u32, code: u16) {
        self.state.refuse_code.store(code, Ordering::SeqCst);
        self.state.refuse_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Messages received for `address`.
    pub fn to(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    pub fn stop(&self) {
        self.pause();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((socket, _)) = accepted {
                    tokio::spawn(session(socket, state.clone()));
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

fn address(arg: &str) -> String {
    let a = arg.split_once(':').map(|(_, r)| r).unwrap_or(arg).trim();
    let a = a.split_whitespace().next().unwrap_or_default();
    a.trim_start_matches('<').trim_end_matches('>').to_string()
}

async fn session(socket: TcpStream, state: Arc<State>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let reply = |text: String| format!("{text}\r\n").into_bytes();
    let _ = write.write_all(&reply("220 fake-smtp ready".into())).await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-fake-smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING".to_string()
        } else if upper.starts_with("HELO") {
            "250 fake-smtp".to_string()
        } else if upper.starts_with("MAIL FROM") {
            from = address(&cmd);
            to.clear();
            "250 OK".to_string()
        } else if upper.starts_with("RCPT TO") {
            to.push(address(&cmd));
            "250 OK".to_string()
        } else if upper == "DATA" {
            let _ = write
                .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                .await;
            let mut raw = Vec::new();
            loop {
                let mut l = String::new();
                match lines.read_line(&mut l).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').map(str::to_string).unwrap_or(l);
                raw.extend_from_slice(l.as_bytes());
            }
            let refused = state
                .refuse_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                let code = state.refuse_code.load(Ordering::SeqCst);
                format!("{code} refused by the fake")
            } else {
                state.received.lock().unwrap().push(Received {
                    from: from.clone(),
                    to: to.clone(),
                    raw,
                });
                "250 OK queued".to_string()
            }
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            "250 OK".to_string()
        } else if upper == "NOOP" {
            "250 OK".to_string()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 not implemented".to_string()
        };
        if write.write_all(&reply(answer)).await.is_err() {
            return;
        }
    }
}
