//! HTML building blocks: escaping (hub-api D2: every user-controlled value goes through [`escape`]
//! or [`href`]), URL path segments and the page layout of hub-api §10.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a path segment: unreserved plus the sub-delimiters names use.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@');

/// Escape text for HTML content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL path made of `segments`, percent-encoded and HTML-escaped for an `href`.
pub fn href(segments: &[&str]) -> String {
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.extend(utf8_percent_encode(segment, SEGMENT));
    }
    escape(&path)
}

/// `YYYY-MM-DD HH:MM` (UTC) of Unix seconds.
pub fn date(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|time| time.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Who the navigation bar shows.
#[derive(Debug, Default)]
pub struct Nav<'a> {
    /// The logged-in user.
    pub user: Option<&'a str>,
    /// Accounts of the drop-down.
    pub accounts: &'a [String],
    /// Whether login links are shown (authentication enabled).
    pub login: bool,
    /// Debug mode: show the staging banner.
    pub staging: bool,
}

/// A complete page: navigation bar, `body` (already-escaped HTML) and footer.
pub fn page(status: StatusCode, title: &str, nav: &Nav<'_>, body: &str) -> Response {
    let mut html = String::with_capacity(body.len() + 2048);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} - Zero-OS Hub</title>\
         <link rel=\"stylesheet\" href=\"/static/hub.css\">\
         <script src=\"/static/hub.js\" defer></script></head><body>\
         <nav class=\"navbar\"><a class=\"brand\" href=\"/\">Zero-OS Hub</a><ul>\
         <li><a href=\"/upload\">Upload</a></li><li><a href=\"/merge\">Customize</a></li>\
         <li><a href=\"/docker-convert\">Docker</a></li>\
         <li><a href=\"/upload-flist\">Homemade</a></li><li><a href=\"/search\">Search</a></li>\
         </ul><ul class=\"right\">",
        escape(title)
    );
    match nav.user {
        Some(user) => {
            let _ = write!(
                html,
                "<li class=\"dropdown\"><span>{}</span><ul>",
                escape(user)
            );
            for account in nav.accounts {
                let _ = write!(
                    html,
                    "<li><a href=\"#\" data-active-user=\"{0}\">{0}</a></li>",
                    escape(account)
                );
            }
            html.push_str(
                "<li><a href=\"/token\">Generate API Token</a></li>\
                 <li><a href=\"/logout\">Logout</a></li></ul></li>",
            );
        }
        None if nav.login => html.push_str(
            "<li><a href=\"/login\">Login with ThreeFold Connect</a></li>\
             <li><a href=\"/login-method\">Other sign-in</a></li>\
             <li><a href=\"/token\">Generate API Token</a></li>",
        ),
        None => {}
    }
    html.push_str("</ul></nav>");
    if nav.staging {
        html.push_str(
            "<div class=\"staging\" id=\"staging\">Staging instance: for tests only. Flists \
             published here may disappear at any time.</div>",
        );
    }
    let _ = writeln!(
        html,
        "<main>{body}</main><footer>&copy; {} &bull; ThreeFold Tech</footer>\
         </body></html>",
        Utc::now().year()
    );
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<img src=x onerror='a(\"b\")'>&"),
            "&lt;img src=x onerror=&#x27;a(&quot;b&quot;)&#x27;&gt;&amp;"
        );
    }

    #[test]
    fn hrefs_encode_segments() {
        assert_eq!(href(&["tf-zos", "zos:v3.flist"]), "/tf-zos/zos:v3.flist");
        assert_eq!(href(&["a b", "x\"/y"]), "/a%20b/x%22%2Fy");
        assert_eq!(href(&["<s>"]), "/%3Cs%3E");
    }

    async fn html_of(nav: &Nav<'_>) -> String {
        let response = page(StatusCode::OK, "<t>", nav, "<p>body</p>");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn the_layout_has_the_navbar_footer_and_banner_in_debug_mode() {
        let accounts = vec!["alice".to_owned(), "<org>".to_owned()];
        let nav = Nav {
            user: Some("alice"),
            accounts: &accounts,
            login: true,
            staging: true,
        };
        let html = html_of(&nav).await;
        assert!(html.contains("<title>&lt;t&gt; - Zero-OS Hub</title>"));
        assert!(html.contains("id=\"staging\""));
        assert!(html.contains("data-active-user=\"&lt;org&gt;\""));
        assert!(html.contains("href=\"/logout\""));
        assert!(html.contains(&format!(
            "&copy; {} &bull; ThreeFold Tech",
            Utc::now().year()
        )));
        let anonymous = html_of(&Nav {
            login: true,
            ..Nav::default()
        })
        .await;
        assert!(!anonymous.contains("id=\"staging\""));
        assert!(anonymous.contains("Login with ThreeFold Connect"));
        assert!(anonymous.contains("Generate API Token"));
    }

    #[test]
    fn dates_are_utc_minutes() {
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13");
    }
}
