//! Gives libmcx.so its soname, so that programs linked against it record `libmcx.so.0`
//! (the ABI version: bumped only when a release breaks the C ABI).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmcx.so.0");
    }
}
