//! Docker Hub's bearer-token flow, against a minimal token-protected registry on
//! loopback (a thread answering raw HTTP/1.1): 401 with a `Bearer` challenge → GET
//! the realm with basic credentials → retry with the token.

use orc_runtime::{resolve_digest, Credentials, RegistryError, RegistryOptions};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":2},"layers":[]}"#;
/// base64("me:pw")
const BASIC: &str = "Basic bWU6cHc=";

/// Serves until the test ends: returns the port.
fn token_registry() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_string());
            }
            let path = head
                .first()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or("")
                .to_string();
            let auth = head
                .iter()
                .find_map(|h| {
                    h.strip_prefix("authorization: ")
                        .or(h.strip_prefix("Authorization: "))
                })
                .unwrap_or("")
                .to_string();
            let (status, extra, body) = if path.starts_with("/token?") {
                let scope_ok = path.contains("scope=repository%3Ademo%2Fapp%3Apull")
                    && path.contains("service=test");
                if auth == BASIC && scope_ok {
                    ("200 OK", String::new(), r#"{"token":"tok123"}"#.to_string())
                } else {
                    ("401 Unauthorized", String::new(), "{}".to_string())
                }
            } else if auth == "Bearer tok123" {
                (
                    "200 OK",
                    "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n".to_string(),
                    MANIFEST.to_string(),
                )
            } else {
                (
                    "401 Unauthorized",
                    format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test\",scope=\"repository:demo/app:pull\"\r\n"),
                    "{}".to_string(),
                )
            };
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn opts(user: &str, password: &str) -> RegistryOptions {
    RegistryOptions {
        credentials: Some(Credentials {
            username: user.into(),
            password: password.into(),
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn bearer_token_flow_with_basic_credentials() {
    let port = token_registry();
    let image = format!("127.0.0.1:{port}/demo/app:1");
    let digest = resolve_digest(&image, &opts("me", "pw")).await.unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", hex::encode(Sha256::digest(MANIFEST)))
    );
    for o in [RegistryOptions::default(), opts("me", "wrong")] {
        assert_eq!(
            resolve_digest(&image, &o).await,
            Err(RegistryError::Unauthorized(format!("127.0.0.1:{port}")))
        );
    }
}
