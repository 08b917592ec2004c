//! With the `training` feature, adds an rpath to libtorch's `lib/` (from `LIBTORCH`, set by
//! `.cargo/config.toml`) so that `neuroshard` runs without LD_LIBRARY_PATH. `neuroshard-client`
//! uses this script too, for its test binaries.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TRAINING").is_none() {
        return;
    }
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&dir).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
