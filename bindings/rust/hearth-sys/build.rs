// Finds libhearth: $HEARTH_LIB_DIR, else pkg-config (run as a program: no crate dependencies), else a system library
// directory. When none has it the build stops with what to set, rather than with the linker's "cannot find
// -lhearth". The directory is passed on to dependent crates (links = "hearth" -> DEP_HEARTH_LIB_DIR).
use std::path::Path;
use std::process::Command;

const SYSTEM_DIRS: &[&str] = &["/usr/local/lib", "/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib"];

fn has_library(dir: &str) -> bool {
    ["libhearth.so", "libhearth.dylib", "hearth.lib", "libhearth.dll.a"].iter().any(|n| Path::new(dir).join(n).exists())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HEARTH_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let mut tried = Vec::new();
    let dir = match std::env::var("HEARTH_LIB_DIR") {
        Ok(d) if has_library(&d) => Some(d),
        Ok(d) => {
            panic!("hearth-sys: HEARTH_LIB_DIR={d} holds no libhearth.so: point it at the lib/ of a hearth install (cmake --install build --prefix P, then HEARTH_LIB_DIR=P/lib)")
        }
        Err(_) => None,
    };
    let dir = dir.or_else(|| {
        match Command::new("pkg-config").args(["--print-errors", "--variable=libdir", "hearth"]).output() {
            Ok(out) if out.status.success() => {
                let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !s.is_empty() && has_library(&s) {
                    return Some(s);
                }
                tried.push(format!("pkg-config names {s:?}, which holds no libhearth.so"));
            }
            Ok(out) => tried.push(format!("pkg-config: {}", String::from_utf8_lossy(&out.stderr).trim())),
            Err(e) => tried.push(format!("pkg-config could not run ({e})")),
        }
        None
    });
    match dir {
        Some(dir) => {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:lib_dir={dir}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}"); // this crate's own tests
        }
        None if SYSTEM_DIRS.iter().any(|d| has_library(d)) => {} // the linker's default search finds it
        None => panic!(
            "hearth-sys: libhearth not found. Install hearth (cmake --install build --prefix P) and set \
             PKG_CONFIG_PATH=P/lib/pkgconfig, or set HEARTH_LIB_DIR=P/lib. Tried: {}; the system library directories.",
            tried.join("; ")
        ),
    }
    println!("cargo:rustc-link-lib=dylib=hearth");
}
