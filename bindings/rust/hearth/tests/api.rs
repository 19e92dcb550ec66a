//! The safe crate against a real model ($HEARTH_TEST_MODEL, a small file made by `hearth synth`).
use hearth::{status, GenerateOptions, Model, ModelOptions, SamplerParams, Session, SessionOptions, SEED_RANDOM};
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

fn text_of(s: &mut Session, prompt: &str, opts: &GenerateOptions) -> String {
    let mut out = String::new();
    s.generate_with(prompt, opts, |p| {
        out.push_str(p);
        true
    })
    .unwrap();
    out
}

#[test]
fn load_options_progress_abort_and_vocab_only() {
    let path = std::env::var("HEARTH_TEST_MODEL").unwrap();
    let mut seen = Vec::new();
    let mut record = |f: f32| {
        seen.push(f);
        true
    };
    let m = Model::load_with(&path, ModelOptions { progress: Some(&mut record), prefault: true, gpu_offload: Some(hearth::gpu::NONE), ..Default::default() }).unwrap();
    assert!(!seen.is_empty());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]) && seen.iter().all(|f| (0.0..=1.0).contains(f)));
    assert_eq!(*seen.last().unwrap(), 1.0);
    assert_eq!(m.gpu_info().unwrap().gpu_offload, hearth::gpu::NONE);
    let mut stop = |_: f32| false;
    let e = Model::load_with(&path, ModelOptions { progress: Some(&mut stop), ..Default::default() }).err().unwrap();
    assert!(e.is_cancelled(), "{e}");
    let v = Model::load_with(&path, ModelOptions { vocab_only: true, ..Default::default() }).unwrap();
    assert_eq!(v.tokenize("Once upon", true).unwrap(), m.tokenize("Once upon", true).unwrap());
    assert!(Session::new(&v, opts(64)).is_err()); // no weights to run
    // the layer cap and the GPU context reach the library (it names the field it refuses)
    for (n_layers, n_ctx, field) in [(-1, 0, "gpu_n_layers"), (0, -1, "gpu_n_ctx")] {
        let o = ModelOptions { gpu_offload: Some(hearth::gpu::LAYERS), gpu_n_layers: n_layers, gpu_n_ctx: n_ctx, ..Default::default() };
        let e = Model::load_with(&path, o).err().unwrap();
        assert_eq!(e.status, status::INVALID_ARGUMENT);
        assert!(e.message.contains(field), "{e}");
    }
    let o = ModelOptions { gpu_offload: Some(hearth::gpu::LAYERS), gpu_n_layers: 1, gpu_n_ctx: 64, ..Default::default() };
    Model::load_with(&path, o).unwrap();
}

#[test]
fn sampler_defaults_are_the_librarys_and_the_seed_is_reported() {
    let m = model();
    let d = SamplerParams::default();
    assert_eq!(d.seed, SEED_RANDOM);
    assert!(d.temperature > 0.0 && d.repeat_penalty != 1.0);
    let mut s = Session::new(&m, opts(256)).unwrap();
    let g = GenerateOptions { max_tokens: 24, ..Default::default() };
    s.set_sampler(&d).unwrap();
    let drawn = s.seed();
    assert_ne!(drawn, SEED_RANDOM);
    let a = text_of(&mut s, "Once upon a time", &g);
    s.reset().unwrap();
    s.set_sampler(&d).unwrap();
    assert_ne!(s.seed(), drawn); // a fresh one each time
    s.reset().unwrap();
    s.set_sampler(&SamplerParams { seed: drawn, ..d }).unwrap();
    assert_eq!(s.seed(), drawn);
    assert_eq!(text_of(&mut s, "Once upon a time", &g), a);
    s.reset().unwrap();
    s.set_sampler(&SamplerParams { seed: drawn, repeat_penalty: 1.0, ..d }).unwrap();
    assert_ne!(text_of(&mut s, "Once upon a time", &g), a); // the penalty is in effect
}

#[test]
fn bos_special_and_all_logits() {
    let m = model();
    let mut s = Session::new(&m, opts(256)).unwrap();
    s.set_greedy().unwrap();
    assert!(GenerateOptions::default().add_bos && GenerateOptions::default().stop_at_eog);
    // not stopping at an end-of-generation token: both make 12 tokens, so they differ by the BOS alone
    let with = GenerateOptions { max_tokens: 12, stop_at_eog: false, ..Default::default() };
    let without = GenerateOptions { add_bos: false, ..with };
    let a = text_of(&mut s, "The mill", &with);
    let n_with = s.n_past();
    s.reset().unwrap();
    let b = text_of(&mut s, "The mill", &without);
    assert_eq!(s.n_past(), n_with - 1); // one token fewer: no BOS
    assert!(!a.is_empty() && !b.is_empty());
    // all logits: the last row is what a plain eval keeps
    s.reset().unwrap();
    let toks = m.tokenize("The hearth keeps", true).unwrap();
    s.eval_with(&toks, true).unwrap();
    let first = s.logits_at(0).unwrap().to_vec();
    let last = s.logits_at(toks.len() as i32 - 1).unwrap().to_vec();
    assert_eq!(s.logits().unwrap(), &last[..]);
    assert_ne!(first, last);
    s.reset().unwrap();
    s.eval(&toks).unwrap();
    // the last row alone goes through the output matrix-vector kernel, all rows through the GEMM: equal to rounding
    let plain = s.logits().unwrap();
    assert_eq!(plain.len(), last.len());
    assert!(plain.iter().zip(&last).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs())));
    assert!(s.logits_at(0).is_none());
    // special: the BOS token's text parses as the BOS token only with the flag
    let bos_text = String::from_utf8(text_piece(&m, m.bos())).unwrap();
    if !bos_text.is_empty() {
        assert_eq!(m.tokenize_with(bos_text.as_bytes(), false, true).unwrap(), vec![m.bos()]);
        assert_ne!(m.tokenize_with(bos_text.as_bytes(), false, false).unwrap(), vec![m.bos()]);
    }
}

fn text_piece(m: &Model, t: i32) -> Vec<u8> {
    m.token_to_piece_with(t, true).unwrap()
}

#[test]
fn parity_text() {
    // The recipe every binding's suite runs (the library's sampler defaults, seed 42, 32 tokens after
    // "Once upon a time" with BOS); .ci/bindings compares the texts with `hearth run` (C).
    let m = model();
    let mut s = Session::new(&m, opts(256)).unwrap();
    s.set_sampler(&SamplerParams { seed: 42, ..Default::default() }).unwrap();
    let t = text_of(&mut s, "Once upon a time", &GenerateOptions { max_tokens: 32, ..Default::default() });
    assert!(!t.is_empty());
    if let Some(dir) = std::env::var_os("HEARTH_PARITY_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("rust.txt"), t).unwrap();
    }
}

#[test]
fn rest_of_the_c_surface() {
    // versions, the log callback, model sizes, session options and counters, thresholds, perf
    let v: Vec<u32> = hearth::version().split('.').map(|x| x.parse().unwrap()).collect();
    assert_eq!(hearth::version_number(), v[0] * 10000 + v[1] * 100 + v[2]);
    assert_eq!(hearth::abi_version(), hearth::ABI_VERSION);
    let path = std::env::var("HEARTH_TEST_MODEL").unwrap();
    let lines = Arc::new(std::sync::Mutex::new(Vec::<(i32, String)>::new()));
    let sink = lines.clone();
    hearth::set_log_callback(Some(Box::new(move |l, m| sink.lock().unwrap().push((l, m.to_string())))), hearth::HEARTH_LOG_INFO);
    let vocab_only = || Model::load_with(&path, ModelOptions { vocab_only: true, ..Default::default() }).unwrap();
    drop(vocab_only());
    hearth::set_log_callback(None, 0);
    let n = {
        let l = lines.lock().unwrap();
        assert!(l.iter().any(|(lv, m)| *lv == hearth::HEARTH_LOG_INFO && m.contains("loaded")), "{l:?}");
        l.len()
    };
    drop(vocab_only());
    assert_eq!(lines.lock().unwrap().len(), n); // silenced again
    let m = model();
    let meta = |k: &str| m.meta(k).unwrap().unwrap().parse::<i64>().unwrap();
    assert_eq!(m.n_embd() as i64, meta("llama.embedding_length"));
    assert_eq!(m.n_ctx_train() as i64, meta("llama.context_length"));
    assert_eq!(m.n_layer() as i64, meta("llama.block_count"));
    assert_eq!(m.eos() as i64, meta("tokenizer.ggml.eos_token_id"));
    assert!(m.is_eog(m.eos()));
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size / 2 < m.size_bytes() && m.size_bytes() <= size, "{} of {size}", m.size_bytes()); // weights: most of the file
    // the Q4_0 test model's matrices are repacked on x86-64 by default; no_repack reaches the library
    assert!(m.repacked_bytes() <= m.size_bytes() && (m.repacked_bytes() > 0 || !cfg!(target_arch = "x86_64")));
    let plain = Model::load_with(&path, ModelOptions { no_repack: true, ..Default::default() }).unwrap();
    assert_eq!(plain.repacked_bytes(), 0);
    assert!(m.n_params() > (m.n_embd() * m.n_vocab()) as u64);
    let o = SessionOptions {
        n_ctx: 96,
        n_batch: 16,
        n_threads: 1,
        cats_sparsity: Some(0.3),
        type_k: hearth::HEARTH_KV_F32,
        ..Default::default()
    };
    let mut s = Session::new(&m, o).unwrap();
    assert_eq!(s.n_ctx(), 96);
    assert!(!s.mode().is_empty());
    s.set_threshold(-1, 0.25).unwrap();
    assert_eq!(s.last_error(), "");
    let e = s.set_threshold(m.n_layer(), 0.25).unwrap_err();
    assert_eq!(e.status, status::INVALID_ARGUMENT);
    assert_eq!(s.last_error(), e.message); // the session's own copy of the message
    assert!(!e.message.is_empty());
    s.set_sampler(&SamplerParams { seed: 3, ..Default::default() }).unwrap();
    text_of(&mut s, "The mill", &GenerateOptions { max_tokens: 5, stop_at_eog: false, ..Default::default() });
    let p = s.perf().unwrap();
    assert_eq!(p.n_prompt as usize, m.tokenize("The mill", true).unwrap().len());
    assert_eq!(p.n_generated, 5);
    assert!(p.generate_ms >= 0.0);
    assert_eq!(s.n_past(), p.n_prompt + 5); // each sampled token is evaluated: context now
    assert!(s.sparse_stats().unwrap().tokens > 0);
    s.reset_stats().unwrap();
    assert_eq!(s.sparse_stats().unwrap().tokens, 0);
    let bad = SessionOptions { type_k: 99, ..opts(64) };
    assert_eq!(Session::new(&m, bad).err().unwrap().status, status::INVALID_ARGUMENT);
}

fn steps(s: &mut Session, n: usize) -> Vec<i32> {
    let mut out = Vec::new();
    while out.len() < n {
        if let Some(t) = s.step().unwrap() {
            out.push(t);
        }
    }
    out
}

#[test]
fn state_save_load_and_truncate() {
    let m = model();
    let mut a = Session::new(&m, opts(256)).unwrap();
    let mut b = Session::new(&m, opts(256)).unwrap();
    a.set_sampler(&SamplerParams { seed: 11, ..Default::default() }).unwrap();
    b.set_sampler(&SamplerParams { seed: 12, ..Default::default() }).unwrap();
    a.feed("The river ran", true).unwrap();
    steps(&mut a, 4);
    let state = a.save_state().unwrap();
    let want = steps(&mut a, 10);
    b.load_state(&state).unwrap();
    assert_eq!(steps(&mut b, 10), want);
    let path = std::env::temp_dir().join(format!("hearth-rust-state-{}.hrst", std::process::id()));
    a.load_state(&state).unwrap();
    a.save_state_file(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), state);
    b.load_state_file(&path).unwrap();
    assert_eq!(steps(&mut b, 10), want);
    std::fs::remove_file(&path).unwrap();
    let mut bad = state.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let n_past = b.n_past();
    assert_eq!(b.load_state(&bad).err().unwrap().status, status::BAD_FORMAT);
    assert_eq!(b.n_past(), n_past);
    b.truncate(3).unwrap();
    assert_eq!(b.n_past(), 3);
    assert_eq!(b.truncate(4).err().unwrap().status, status::INVALID_ARGUMENT);
}
