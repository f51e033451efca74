fn main() {
    std::process::exit(fwdoctor::cli::main());
}
