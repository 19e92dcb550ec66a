//! The safe crate against a real model ($HEARTH_TEST_MODEL, a small file made by `hearth synth`).
use hearth::{status, Model, Session, SessionOptions};
use std::sync::Arc;
use std::thread;

fn model() -> Model {
    let path = std::env::var("HEARTH_TEST_MODEL").expect("HEARTH_TEST_MODEL must name a model file");
    Model::load(path).expect("the test model loads")
}

fn opts(n_ctx: i32) -> SessionOptions {
    SessionOptions { n_ctx, ..Default::default() }
}

#[test]
fn version_and_machine() {
    assert!(hearth::version().split('.').count() == 3);
    assert!(["ref", "avx2", "avx512", "neon", "dotprod"].contains(&hearth::cpu_isa().as_str()));
    assert!(hearth::gpu_count() >= 0);
}

#[test]
fn chat_templates() {
    let msgs = [("system", "S"), ("user", "Hi")];
    assert_eq!(
        hearth::chat_apply_template("chatml", &msgs, true).unwrap(),
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert!(hearth::chat_builtin_templates().iter().any(|n| n == "llama3"));
    assert_eq!(hearth::chat_detect_template("<|start_header_id|>x<|end_header_id|>").as_deref(), Some("llama3"));
    assert_eq!(hearth::chat_detect_template("plain"), None);
    let e = hearth::chat_apply_template("{% macro m() %}{% endmacro %}", &msgs, true).err().unwrap();
    assert_eq!(e.status, status::UNSUPPORTED);
    assert!(e.message.contains("chatml"), "{e}");
    let e = hearth::chat_apply_template("chatml", &[("narrator", "x")], true).err().unwrap();
    assert_eq!(e.status, status::INVALID_ARGUMENT);
    // the test model has no template of its own: an error that says so
    let e = model().chat_apply_template(&msgs, None, true).err().unwrap();
    assert!(e.message.contains("no chat template"), "{e}");
    assert!(model().chat_apply_template(&msgs, Some("zephyr"), true).unwrap().starts_with("<|system|>\nS"));
}

#[test]
fn bad_path_and_corrupt_file_are_errors() {
    let e = Model::load("/nonexistent/m.gguf").err().unwrap();
    assert_eq!(e.status, status::IO);
    assert!(e.to_string().contains("cannot open"), "{e}");
    let path = std::env::temp_dir().join(format!("hearth-rs-corrupt-{}.gguf", std::process::id()));
    std::fs::write(&path, b"GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff").unwrap();
    let e = Model::load(&path).err().unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(e.status, status::BAD_FORMAT);
}

#[test]
fn metadata_and_tokenizer() {
    let m = model();
    assert!(m.n_vocab() > 100 && m.n_layer() > 0);
    assert_eq!(m.meta("general.architecture").unwrap().as_deref(), Some("llama"));
    assert_eq!(m.meta("no.such.key").unwrap(), None);
    let text = "The hearth keeps the house warm.";
    let toks = m.tokenize(text, true).unwrap();
    assert_eq!(toks[0], m.bos());
    assert_eq!(m.detokenize(&toks[1..]).unwrap(), text);
    assert_eq!(m.tokenize_bytes(b"abc\xff", false).err().unwrap().status, status::INVALID_ARGUMENT);
    let g = m.gpu_info().unwrap();
    assert!(g.vram_weight_bytes <= g.vram_budget_bytes);
    if hearth::gpu_count() == 0 && std::env::var_os("HEARTH_EMULATE_GPU").is_none() {
        assert_eq!(g.gpu_offload, hearth::gpu::NONE);
    }
}

#[test]
fn streaming_generation_is_reproducible() {
    let m = model();
    let mut s = Session::new(&m, opts(256)).unwrap();
    s.set_greedy().unwrap();
    let mut a = String::new();
    s.generate("Once upon a time", 16, |p| {
        a.push_str(p);
        true
    })
    .unwrap();
    assert!(!a.is_empty());
    s.reset().unwrap();
    let mut b = String::new();
    s.generate("Once upon a time", 16, |p| {
        b.push_str(p);
        true
    })
    .unwrap();
    assert_eq!(a, b);
    // the step API gives the same tokens
    s.reset().unwrap();
    s.feed("Once upon a time", true).unwrap();
    let mut c = Vec::new();
    let mut produced = 0;
    while produced < 16 {
        if let Some(t) = s.step().unwrap() {
            produced += 1;
            if m.is_eog(t) {
                break;
            }
            c.extend(m.token_to_piece(t).unwrap());
        }
    }
    assert_eq!(String::from_utf8_lossy(&c), a);
}

#[test]
fn callback_stops_and_panics_propagate() {
    let m = model();
    let mut s = Session::new(&m, opts(256)).unwrap();
    let mut n = 0;
    s.generate("Hello", 50, |_| {
        n += 1;
        n < 3
    })
    .unwrap();
    assert_eq!(n, 3);
    s.reset().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = s.generate("Hello", 50, |_| panic!("from the callback"));
    }));
    assert!(r.is_err());
}

#[test]
fn cancel_from_another_thread() {
    let m = model();
    let mut s = Session::new(&m, opts(512)).unwrap();
    let h = s.cancel_handle();
    thread::spawn(move || h.cancel()).join().unwrap();
    let e = s.generate("Hello", 400, |_| true).err().unwrap();
    assert!(e.is_cancelled());
    s.reset().unwrap();
    s.generate("Hello", 4, |_| true).unwrap(); // consumed: the session works again
    // racing a running generation
    s.reset().unwrap();
    let h = s.cancel_handle();
    let t = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(5));
        h.cancel()
    });
    match s.generate("Hello", 400, |_| true) {
        Ok(()) => {}
        Err(e) => assert!(e.is_cancelled()),
    }
    t.join().unwrap();
}

#[test]
fn context_overflow_is_an_error() {
    let m = model();
    let mut s = Session::new(&m, opts(16)).unwrap();
    let toks: Vec<i32> = (3..40).collect();
    assert_eq!(s.eval(&toks).err().unwrap().status, status::CONTEXT_FULL);
}

#[test]
fn memory_limit_is_enforced_before_allocating() {
    let m = model();
    let o = SessionOptions { n_ctx: 1 << 16, max_memory_bytes: 1 << 20, ..Default::default() };
    let e = Session::new(&m, o).err().unwrap();
    assert_eq!(e.status, status::OUT_OF_MEMORY);
    assert!(e.message.contains("KV cache"), "{}", e.message);
    let o = SessionOptions { n_ctx: 64, max_memory_bytes: 1 << 30, ..Default::default() };
    let mut s = Session::new(&m, o).unwrap();
    s.eval(&[1, 2, 3]).unwrap();
}

#[test]
fn one_model_many_threads() {
    let m = Arc::new(model());
    let texts: Vec<String> = (0..3)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                let mut s = Session::new(&m, SessionOptions { n_ctx: 128, n_threads: 1, ..Default::default() }).unwrap();
                s.set_greedy().unwrap();
                let mut out = String::new();
                s.generate("The house", 8, |p| {
                    out.push_str(p);
                    true
                })
                .unwrap();
                out
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(texts.iter().all(|t| *t == texts[0]));
}

#[test]
fn session_outlives_dropped_model_handle() {
    let m = model();
    let mut s = Session::new(&m, opts(64)).unwrap();
    drop(m); // the session keeps the model alive
    s.generate("Hi", 4, |_| true).unwrap();
}
