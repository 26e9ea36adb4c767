//! gzip for answers whose client asks for it.
//!
//! A day of 1m bars is 80–190 KB of JSON and compresses about six-fold, so
//! a browser on a slow link waits less and the server copies less. Answers
//! are compressed only when `Accept-Encoding` allows gzip and they are big
//! enough for it to pay; the `/bars` cache keeps the compressed copy of an
//! answer beside the plain one, made once on its first gzip request.

use crate::error::json;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write as _;
use std::sync::OnceLock;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// Smaller answers go out as they are: gzip's header and a round of
/// deflate would save next to nothing.
const MIN_SIZE: usize = 1024;

/// Whether an `Accept-Encoding` header lets the answer be gzip: `gzip` (or
/// `x-gzip`, or `*`) listed with a weight above zero.
pub(crate) fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else { return false };
    let weight = |name: &str| {
        header.split(',').find_map(|item| {
            let mut parts = item.split(';');
            let coding = parts.next()?.trim();
            coding.eq_ignore_ascii_case(name).then(|| {
                parts
                    .find_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                    .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0))
            })
        })
    };
    let gzip = weight("gzip").or_else(|| weight("x-gzip")).or_else(|| weight("*"));
    gzip.is_some_and(|q| q > 0.0)
}

/// An answer's body, with its gzip copy once one was asked for.
#[derive(Debug, Default)]
pub(crate) struct Body {
    plain: Bytes,
    gzip: OnceLock<Bytes>,
}

impl Body {
    /// A body whose gzip copy is made when first needed.
    pub fn new(plain: impl Into<Bytes>) -> Self {
        Self { plain: plain.into(), gzip: OnceLock::new() }
    }

    /// The JSON answer: gzip if `gzip` allows it and it pays, else plain.
    pub fn reply(&self, status: StatusCode, gzip: bool) -> Response {
        if self.plain.len() < MIN_SIZE {
            return json(status, self.plain.clone());
        }
        let mut response = if gzip {
            let mut response = json(status, self.gzip.get_or_init(|| compress(&self.plain)).clone());
            response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        } else {
            json(status, self.plain.clone())
        };
        // Big enough to compress: caches must know the answer depends on `Accept-Encoding`.
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    }
}

/// gzip at the fastest level: JSON of bars compresses well even there,
/// and an answer that is read once is compressed on the request's path.
fn compress(plain: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(plain);
    Bytes::from(encoder.finish().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn gzip_is_used_when_the_header_allows_it() {
        for yes in ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*", "identity, *;q=0.5", "x-gzip", "GZIP"] {
            assert!(accepts_gzip(Some(yes)), "{yes}");
        }
        for no in ["", "identity", "br, deflate", "gzip;q=0", "gzip;q=0.0, br", "*;q=0", "gzip;q=zero"] {
            assert!(!accepts_gzip(Some(no)), "{no}");
        }
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn a_big_answer_goes_out_compressed_and_decompresses_to_itself() {
        let plain: String = (0..200).map(|i| format!(r#"{{"open":"{i}.25","close":"{i}.5"}},"#)).collect();
        let body = Body::new(plain.clone());
        let response = body.reply(StatusCode::OK, true);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
        let compressed = body.gzip.get().expect("kept");
        assert!(compressed.len() * 4 < plain.len(), "{} of {}", compressed.len(), plain.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut back).expect("gzip");
        assert_eq!(back, plain);

        let response = body.reply(StatusCode::OK, false);
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
        let small = Body::new("{}").reply(StatusCode::OK, true);
        assert!(!small.headers().contains_key(header::CONTENT_ENCODING) && !small.headers().contains_key(header::VARY));
    }
}
