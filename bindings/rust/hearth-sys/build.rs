// Finds libhearth: $HEARTH_LIB_DIR, else pkg-config (run as a program: no crate dependencies), else the system's
// default search path. The directory is passed on to dependent crates (links = "hearth" -> DEP_HEARTH_LIB_DIR).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HEARTH_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let dir = std::env::var("HEARTH_LIB_DIR").ok().or_else(|| {
        let out = Command::new("pkg-config").args(["--variable=libdir", "hearth"]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (!s.is_empty()).then_some(s)
    });
    if let Some(dir) = dir {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:lib_dir={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}"); // this crate's own tests
    }
    println!("cargo:rustc-link-lib=dylib=hearth");
}
