fn main() {
    // Like any Unix filter: `fwdoctor check | head` ends quietly instead of panicking.
    // SAFETY: setting SIGPIPE back to its default action before any thread starts.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    std::process::exit(fwdoctor::cli::main());
}
