// The -sys crate's rpath does not reach this crate's binaries (tests, examples): re-emit it from DEP_HEARTH_LIB_DIR.
fn main() {
    if let Ok(dir) = std::env::var("DEP_HEARTH_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
