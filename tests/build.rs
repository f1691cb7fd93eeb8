//! Builds the libsrtp shim used by the interop tests and links Debian's libsrtp2.
//!
//! libsrtp2 is found with pkg-config; `scripts/test.sh` installs `libsrtp2-dev` when it is
//! missing. Without it the build stops with a message saying so: an interop test that cannot
//! run must not pass.

fn main() {
    println!("cargo:rerun-if-changed=csrc/srtp_shim.c");
    // Probe without emitting link flags: the shim archive must come before libsrtp2 on the
    // linker command line (rustc links with --as-needed), so the flags are printed after it.
    let lib = match pkg_config::Config::new()
        .atleast_version("2.2")
        .cargo_metadata(false)
        .probe("libsrtp2")
    {
        Ok(lib) => lib,
        Err(e) => panic!(
            "libsrtp2 not found ({e}).\n\
             The interop tests need Debian's libsrtp2-dev: run scripts/test.sh, which installs it, \
             or `apt-get install libsrtp2-dev pkg-config`."
        ),
    };
    let mut build = cc::Build::new();
    build.file("csrc/srtp_shim.c").warnings(true);
    for inc in &lib.include_paths {
        build.include(inc);
    }
    build.compile("mcx_srtp_shim");
    for dir in &lib.link_paths {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    for name in &lib.libs {
        println!("cargo:rustc-link-lib={name}");
    }
}
