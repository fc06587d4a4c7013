//! The documented maximum of every string and list in a monitor (README "Limits" table and the
//! proto comments say the same), and the size budget that keeps `ListMonitors` under its
//! message limit.

/// Bytes of a monitor id (`mon_` + 32 hex digits, or a declared 1-64 character slug).
pub const MAX_ID_BYTES: usize = 64;
/// Characters of a monitor name.
pub const MAX_NAME_CHARS: usize = 200;
/// Regions per monitor.
pub const MAX_REGIONS: usize = 16;
/// Bytes of one region name.
pub const MAX_REGION_BYTES: usize = 64;
/// Bytes of a cron expression.
pub const MAX_CRON_BYTES: usize = 128;
/// Integrations per monitor.
pub const MAX_INTEGRATIONS: usize = 16;
/// Bytes of a URL (`http.url`, `webhook.url`).
pub const MAX_URL_BYTES: usize = 2048;
/// Bytes of a secret: a webhook secret, a basic-auth password, a bearer token.
pub const MAX_SECRET_BYTES: usize = 1024;
/// Headers per HTTP check.
pub const MAX_HEADERS: usize = 32;
/// Bytes of a header name (request headers and header assertions).
pub const MAX_HEADER_NAME_BYTES: usize = 128;
/// Bytes of a request header value.
pub const MAX_HEADER_VALUE_BYTES: usize = 4096;
/// Bytes of an HTTP request body.
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;
/// Bytes of the user agent, a basic-auth username, a gRPC service name.
pub const MAX_SHORT_TEXT_BYTES: usize = 256;
/// Bytes of the PEM certificates in `tls.ca_pem`.
pub const MAX_PEM_BYTES: usize = 64 * 1024;
/// Bytes of a host name (DNS names, server names, hosts of addresses), as DNS allows.
pub const MAX_HOST_BYTES: usize = 253;
/// Bytes of an address (`host:port`, `[ipv6]:port`) or a resolver.
pub const MAX_ADDRESS_BYTES: usize = MAX_HOST_BYTES + 8;
/// Bytes of a pattern or expected value: regexes, body and header assertions, JSON paths and
/// values, expected DNS values, expected TLS subject and names.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Assertions, status ranges, TCP steps, expected DNS values and expected TLS names, each.
pub const MAX_ASSERTIONS: usize = 16;
/// Bytes of one TCP send step as written (escapes included).
pub const MAX_SEND_BYTES: usize = 16 * 1024;
/// Compiled size bound for user regexes, so one monitor cannot take the agent's memory.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;
/// Encoded size of one whole monitor. The per-field bounds above allow more than this in sum;
/// this is the bound the list below is sized by.
pub const MAX_MONITOR_BYTES: usize = 128 * 1024;
/// Monitors one `ListMonitors` page holds at most (its `page_size` bound).
pub const MAX_LIST_MONITORS: usize = 500;
/// Most items of one page of any list call (`page_size`); a `ListMonitors` page of this many
/// fits the message limit below.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Items of a page when the request gives no `page_size`.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Bytes of a `page_token`.
pub const MAX_PAGE_TOKEN_BYTES: usize = 256;
/// Bytes of a project name (1-64 of `[a-z0-9_-]`).
pub const MAX_PROJECT_NAME_BYTES: usize = 64;
/// Bytes of a project token's label.
pub const MAX_TOKEN_NAME_BYTES: usize = 64;
/// Largest `max_monitors` quota a project may be given.
pub const MAX_PROJECT_MONITORS: u32 = 1_000_000;
/// Encoded size of the output-only `region_status` of one monitor in a response: at most
/// `MAX_REGIONS` entries of a region name, a status label of at most 8 characters, two
/// numbers and a flag (about 110 bytes each at most).
pub const MAX_REGION_STATUS_BYTES: usize = 2 * 1024;
/// gRPC message limit of the admin API on both ends (coordinator encode, CLI decode): the
/// largest `ListMonitors` response, `MAX_LIST_MONITORS` monitors of `MAX_MONITOR_BYTES` and
/// their `MAX_REGION_STATUS_BYTES`, each with their field framing (at most 5 bytes each), plus
/// room to spare.
pub const MAX_ADMIN_MESSAGE_BYTES: usize =
    MAX_LIST_MONITORS * (MAX_MONITOR_BYTES + MAX_REGION_STATUS_BYTES + 8) + 64 * 1024;
