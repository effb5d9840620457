//! Where a configuration error is: the line of an offset, and the key as the documentation
//! names it, from the parser's path or from the text around a syntax error.

/// `interface[2].mtu` → `interface.mtu`: the key as the documentation names it.
pub(super) fn key_of_path(path: &serde_path_to_error::Path) -> String {
    let key = path
        .iter()
        .filter_map(|segment| match segment {
            // A value read with its span (`Spanned`) is a map inside toml; its private key is
            // not the user's.
            serde_path_to_error::Segment::Map { key } if key.starts_with("$__serde_spanned") => {
                None
            }
            serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(".");
    if key.is_empty() {
        "(top level)".into()
    } else {
        key
    }
}

pub(super) fn join_key(table: &str, key: &str) -> String {
    if table == "(top level)" {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    }
}

/// The key a syntax error at `offset` is about, from the text itself: the key of that line
/// (the part before `=`) inside the last table header above it, or the header itself.
pub(super) fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
    };
    if let Some(table) = header(line) {
        return table;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .find_map(header)
        .unwrap_or_else(|| "(top level)".into());
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => join_key(&table, key.trim().trim_matches('"')),
        _ => table,
    }
}

/// The parser's description of a syntax error, on one line.
pub(super) fn syntax_message(e: &toml::de::Error) -> String {
    let message = e.message().trim();
    format!("TOML syntax: {}", message.lines().next().unwrap_or(message))
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}
