use std::io::Write;

fn main() {
    // Like any Unix filter: `fwdoctor check | head` ends quietly instead of panicking.
    // SAFETY: setting SIGPIPE back to its default action before any thread starts.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    // A report nobody can read is a failed run, never a panic: a write to stdout that fails
    // (a full disk, EIO) exits 3 with a message. (A stdout closed before the start is
    // /dev/null by then: Rust's runtime reopens closed standard descriptors there.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        // print!'s panic on a write error, from any of the report's writers.
        if let Some(cause) = message.strip_prefix("failed printing to stdout: ") {
            eprintln!("fwdoctor: cannot write the report to stdout: {cause}");
            std::process::exit(3);
        }
        default_hook(info);
    }));
    // Before any thread starts, so that every thread's heap can be in huge pages.
    fwdoctor::parse::heap::grow_in_big_steps();
    let code = fwdoctor::cli::main();
    if let Err(e) = std::io::stdout().flush() {
        eprintln!("fwdoctor: cannot write the report to stdout: {e}");
        std::process::exit(3);
    }
    std::process::exit(code);
}
