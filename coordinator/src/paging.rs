//! Paging of the admin API's list calls: `page_size` checked against its bound, and opaque
//! `page_token`s holding the keyset position of the last item returned (never an offset, so
//! a deep page costs what the first one does and rows added meanwhile are not skipped).
//! A token is the hex of `<kind>:<position>`; the kind stops a token of one list from
//! being used for another.

use lookout_proto::validate::{DEFAULT_PAGE_SIZE, FieldError, MAX_PAGE_SIZE, MAX_PAGE_TOKEN_BYTES};
use lookout_store::notifier::{DeliveryCursor, IncidentCursor};

use crate::error::field_error;

/// Which list a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Monitors,
    Deliveries,
    Projects,
    Integrations,
    Incidents,
}

impl ListKind {
    fn tag(self) -> &'static str {
        match self {
            ListKind::Monitors => "m1",
            ListKind::Deliveries => "d1",
            ListKind::Projects => "p1",
            ListKind::Integrations => "i1",
            ListKind::Incidents => "n1",
        }
    }
}

/// `page_size` as asked: 0 means [`DEFAULT_PAGE_SIZE`], more than [`MAX_PAGE_SIZE`] is refused.
pub fn page_size(v: u32) -> Result<u32, FieldError> {
    match v {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n <= MAX_PAGE_SIZE => Ok(n),
        n => Err(field_error(
            "page_size",
            format!("{n} is invalid, must be 0..={MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})"),
        )),
    }
}

/// The token that continues after `position`.
pub fn token(kind: ListKind, position: &str) -> String {
    hex::encode(format!("{}:{position}", kind.tag()))
}

/// The position a `page_token` continues after; `None` for the first page.
pub fn position(kind: ListKind, token: &str) -> Result<Option<String>, FieldError> {
    if token.is_empty() {
        return Ok(None);
    }
    let malformed = || {
        field_error(
            "page_token",
            "is malformed; pass next_page_token of the previous page of this list",
        )
    };
    if token.len() > MAX_PAGE_TOKEN_BYTES {
        return Err(field_error(
            "page_token",
            format!("is {} bytes, at most {MAX_PAGE_TOKEN_BYTES}", token.len()),
        ));
    }
    let raw = hex::decode(token).map_err(|_| malformed())?;
    let text = String::from_utf8(raw).map_err(|_| malformed())?;
    let (tag, pos) = text.split_once(':').ok_or_else(malformed)?;
    if tag != kind.tag() || pos.is_empty() {
        return Err(malformed());
    }
    Ok(Some(pos.to_string()))
}

/// The token of a delivery page ending at `c`.
pub fn delivery_token(c: &DeliveryCursor) -> String {
    token(
        ListKind::Deliveries,
        &format!("{}:{}", c.created_at_ms, c.id),
    )
}

/// The delivery position of a `page_token`.
pub fn delivery_position(token: &str) -> Result<Option<DeliveryCursor>, FieldError> {
    Ok(ms_and_id(ListKind::Deliveries, token)?
        .map(|(created_at_ms, id)| DeliveryCursor { created_at_ms, id }))
}

/// The token of an incident page ending at `c`.
pub fn incident_token(c: &IncidentCursor) -> String {
    token(ListKind::Incidents, &format!("{}:{}", c.opened_at_ms, c.id))
}

/// The incident position of a `page_token`.
pub fn incident_position(token: &str) -> Result<Option<IncidentCursor>, FieldError> {
    Ok(ms_and_id(ListKind::Incidents, token)?
        .map(|(opened_at_ms, id)| IncidentCursor { opened_at_ms, id }))
}

/// A `<milliseconds>:<id>` position of a `kind` token.
fn ms_and_id(kind: ListKind, token: &str) -> Result<Option<(i64, String)>, FieldError> {
    let Some(pos) = position(kind, token)? else {
        return Ok(None);
    };
    let parsed = pos
        .split_once(':')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_string())));
    parsed.map(Some).ok_or_else(|| {
        field_error(
            "page_token",
            "is malformed; pass next_page_token of the previous page of this list",
        )
    })
}

/// `next_page_token` of a page: the last item's position when the page is full (a full page
/// may be the last; the next then comes back empty, which costs one cheap query).
pub fn next_token<T>(items: &[T], size: u32, position_of: impl Fn(&T) -> String) -> String {
    match items.last() {
        Some(last) if items.len() >= size as usize => position_of(last),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_name_the_field() {
        let t = token(ListKind::Monitors, "mon_1");
        assert_eq!(
            position(ListKind::Monitors, &t).expect("own token"),
            Some("mon_1".to_string())
        );
        assert_eq!(position(ListKind::Monitors, "").expect("first page"), None);
        let c = DeliveryCursor {
            created_at_ms: 42,
            id: "dlv_x".into(),
        };
        assert_eq!(
            delivery_position(&delivery_token(&c)).expect("own token"),
            Some(c.clone())
        );
        let bad = [
            "zz".to_string(),
            hex::encode("m1"),
            hex::encode("m1:"),
            token(ListKind::Projects, "prj_1"),
            "ab".repeat(200),
        ];
        for b in bad {
            let e = position(ListKind::Monitors, &b).expect_err(&b);
            assert_eq!(e.field, "page_token", "{b}");
        }
        let e = delivery_position(&token(ListKind::Deliveries, "x:dlv")).expect_err("ms");
        assert_eq!(e.field, "page_token");
        let i = IncidentCursor {
            opened_at_ms: 7,
            id: "inc_x".into(),
        };
        assert_eq!(
            incident_position(&incident_token(&i)).expect("own token"),
            Some(i)
        );
        let e = incident_position(&delivery_token(&c)).expect_err("a delivery token");
        assert_eq!(e.field, "page_token");
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0).expect("default"), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(MAX_PAGE_SIZE).expect("max"), MAX_PAGE_SIZE);
        assert_eq!(
            page_size(MAX_PAGE_SIZE + 1).expect_err("over").field,
            "page_size"
        );
    }
}
