//! The HTML subset Telegram's and Pushover's parse modes accept, checked as they check it:
//! only known tags, properly nested; every `<`, `>` and `&` outside a tag part of one
//! entity. Returns the visible text (what their length bounds count).

pub fn visible_text(html: &str, allowed_tags: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unclosed tag")?;
                let tag = &rest[1..end];
                let (closing, name) = match tag.strip_prefix('/') {
                    Some(n) => (true, n),
                    None => (false, tag.split_whitespace().next().unwrap_or_default()),
                };
                if !allowed_tags.contains(&name) {
                    return Err(format!("unsupported start tag \"{name}\""));
                }
                if closing {
                    if open.pop().as_deref() != Some(name) {
                        return Err(format!("unmatched end tag \"{name}\""));
                    }
                } else {
                    open.push(name.to_string());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').ok_or("unterminated entity")?;
                let entity = &rest[1..end];
                let decoded = match entity {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    _ => return Err(format!("unsupported entity \"&{entity};\"")),
                };
                out.push(decoded);
                rest = &rest[end + 1..];
            }
            '>' => return Err("a bare '>' outside a tag".into()),
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(t) = open.pop() {
        return Err(format!("tag \"{t}\" is not closed"));
    }
    Ok(out)
}
