fn main() {
    println!("fwdoctor {}", env!("CARGO_PKG_VERSION"));
}
