//! Safe Rust API for hearth: fast local LLM inference behind a stable C ABI.
//!
//! ```no_run
//! let model = hearth::Model::load("model.gguf")?;
//! let mut session = hearth::Session::new(&model, hearth::SessionOptions::default())?;
//! session.generate("Once upon a time", 64, |piece| { print!("{piece}"); true })?;
//! # Ok::<(), hearth::Error>(())
//! ```
//!
//! [`Model`] is immutable and `Send + Sync` (share it across threads; clones are cheap). A [`Session`] is `Send`
//! but used from one thread at a time (`&mut self`); [`CancelHandle`] is `Send + Sync` and stops the session's
//! running call from any thread, as the C contract allows.
#![warn(missing_docs)]
use hearth_sys as sys;
use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::os::raw::c_char;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Once};

pub use sys::{HEARTH_SPARSE_AUTO, HEARTH_SPARSE_CATS, HEARTH_SPARSE_DENSE, HEARTH_SPARSE_EXACT_GATE, HEARTH_SPARSE_PREDICTOR};
pub use sys::{HEARTH_KV_DEFAULT, HEARTH_KV_F16, HEARTH_KV_F32, HEARTH_KV_Q8_0};
pub use sys::{HEARTH_LOG_DEBUG, HEARTH_LOG_ERROR, HEARTH_LOG_INFO, HEARTH_LOG_WARN};
/// Prompt and generation counts and times of the last generation (`Session::perf`).
pub use sys::hearth_perf as Perf;

/// What a failed call returns: the `HEARTH_ERR_*` status and the library's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The `HEARTH_ERR_*` code (see [`status`]).
    pub status: i32,
    /// The library's explanation.
    pub message: String,
}

impl Error {
    fn last(status: i32) -> Error {
        Error { status, message: cstr(unsafe { sys::hearth_last_error() }) }
    }
    /// Whether the call was stopped by [`CancelHandle::cancel`] (or a progress callback).
    pub fn is_cancelled(&self) -> bool {
        self.status == sys::HEARTH_ERR_CANCELLED
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", cstr(unsafe { sys::hearth_status_string(self.status) }), self.message)
    }
}
impl std::error::Error for Error {}

/// What every fallible call returns.
pub type Result<T> = std::result::Result<T, Error>;

/// The `HEARTH_ERR_*` codes an [`Error`] carries.
pub mod status {
    pub use hearth_sys::{
        HEARTH_ERR_BAD_FORMAT as BAD_FORMAT, HEARTH_ERR_BUFFER_TOO_SMALL as BUFFER_TOO_SMALL,
        HEARTH_ERR_CANCELLED as CANCELLED, HEARTH_ERR_CONTEXT_FULL as CONTEXT_FULL, HEARTH_ERR_INTERNAL as INTERNAL,
        HEARTH_ERR_INVALID_ARGUMENT as INVALID_ARGUMENT, HEARTH_ERR_IO as IO, HEARTH_ERR_OUT_OF_MEMORY as OUT_OF_MEMORY,
        HEARTH_ERR_UNSUPPORTED as UNSUPPORTED,
    };
}

/// GPU offload modes (`hearth_model_params.gpu_offload`) and what `Model::gpu_info` returns.
pub mod gpu {
    pub use hearth_sys::{
        hearth_gpu_info as Info, HEARTH_GPU_ATTENTION as ATTENTION, HEARTH_GPU_AUTO as AUTO, HEARTH_GPU_HYBRID as HYBRID,
        HEARTH_GPU_LAYERS as LAYERS, HEARTH_GPU_NONE as NONE,
    };
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn check(st: i32) -> Result<()> {
    if st == sys::HEARTH_OK {
        Ok(())
    } else {
        Err(Error::last(st))
    }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error { status: sys::HEARTH_ERR_INVALID_ARGUMENT, message: "text contains a NUL byte".into() })
}

/// Calls an snprintf-style function, growing the buffer until the text fits.
fn text(mut f: impl FnMut(*mut c_char, usize, *mut usize) -> i32) -> Result<Vec<u8>> {
    let mut cap = 256usize;
    loop {
        let mut buf = vec![0u8; cap];
        let mut n = 0usize;
        let st = f(buf.as_mut_ptr() as *mut c_char, cap, &mut n);
        if st == sys::HEARTH_ERR_BUFFER_TOO_SMALL || (st == sys::HEARTH_OK && n >= cap) {
            cap = n + 1;
            continue;
        }
        check(st)?;
        buf.truncate(n);
        return Ok(buf);
    }
}

/// The struct layouts this crate mirrors, checked once against the loaded library.
fn check_layout() -> Result<()> {
    static ONCE: Once = Once::new();
    static mut OK: bool = true;
    ONCE.call_once(|| {
        use std::mem::size_of;
        let pairs: [(&[u8], usize); 7] = [
            (b"hearth_model_params\0", size_of::<sys::hearth_model_params>()),
            (b"hearth_session_params\0", size_of::<sys::hearth_session_params>()),
            (b"hearth_sampler_params\0", size_of::<sys::hearth_sampler_params>()),
            (b"hearth_generate_params\0", size_of::<sys::hearth_generate_params>()),
            (b"hearth_sparse_stats\0", size_of::<sys::hearth_sparse_stats>()),
            (b"hearth_perf\0", size_of::<sys::hearth_perf>()),
            (b"hearth_gpu_info\0", size_of::<sys::hearth_gpu_info>()),
        ];
        let ok = pairs.iter().all(|(name, size)| unsafe { sys::hearth_sizeof(name.as_ptr() as *const c_char) } == *size);
        unsafe { OK = ok };
    });
    if unsafe { OK } {
        Ok(())
    } else {
        Err(Error { status: sys::HEARTH_ERR_INVALID_ARGUMENT, message: "the hearth crate and libhearth disagree on struct layouts".into() })
    }
}

/// The loaded library's version, "major.minor.patch".
pub fn version() -> String {
    cstr(unsafe { sys::hearth_version_string() })
}
/// `HEARTH_VERSION_NUMBER` of the loaded library (major * 10000 + minor * 100 + patch).
pub fn version_number() -> u32 {
    unsafe { sys::hearth_version() }
}
/// The hearth.h this crate is built for; [`abi_version`] is the loaded library's.
pub const ABI_VERSION: u32 = sys::HEARTH_ABI_VERSION;
/// The loaded library's ABI version; this crate is built for [`ABI_VERSION`].
pub fn abi_version() -> u32 {
    unsafe { sys::hearth_abi_version() }
}

/// What [`set_log_callback`] takes: called with the level and the message, from any library thread.
pub type LogFn = Box<dyn Fn(i32, &str) + Send + Sync>;
static LOG: std::sync::RwLock<Option<LogFn>> = std::sync::RwLock::new(None);

unsafe extern "C" fn log_trampoline(level: i32, msg: *const c_char, _user: *mut c_void) {
    // A panic here has no caller to go back to: it is dropped, never unwound into C.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(g) = LOG.read() {
            if let Some(f) = g.as_ref() {
                f(level, &cstr(msg));
            }
        }
    }));
}

/// Sends the library's log messages at `max_level` or below (`HEARTH_LOG_ERROR` .. `HEARTH_LOG_DEBUG`) to `f`;
/// `None` silences the library (its default). Global to the process: set it before other use.
pub fn set_log_callback(f: Option<LogFn>, max_level: i32) {
    let on = f.is_some();
    *LOG.write().unwrap_or_else(|e| e.into_inner()) = f;
    unsafe { sys::hearth_set_log_callback(if on { Some(log_trampoline) } else { None }, ptr::null_mut(), max_level) }
}
/// The CPU kernel tier in use: "ref", "avx2", "avx512", "neon" or "dotprod" (`HEARTH_FORCE_ISA` caps it).
pub fn cpu_isa() -> String {
    cstr(unsafe { sys::hearth_cpu_isa() })
}
/// The number of usable CUDA devices (0 without CUDA).
pub fn gpu_count() -> i32 {
    unsafe { sys::hearth_gpu_count() }
}

/// Formats a conversation (`(role, content)` pairs: "system", "user", "assistant") with a chat template: a built-in
/// name (`chat_builtin_templates`) or a template text hearth recognises. `Model::chat_apply_template` uses the
/// model's own. Tokenize the result with BOS and special-token parsing.
pub fn chat_apply_template(template: &str, messages: &[(&str, &str)], add_assistant: bool) -> Result<String> {
    chat(ptr::null(), Some(template), messages, add_assistant)
}
/// The built-in template names.
pub fn chat_builtin_templates() -> Vec<String> {
    cstr(unsafe { sys::hearth_chat_builtin_templates() }).split(", ").map(String::from).collect()
}
/// The built-in format a template text is recognised as.
pub fn chat_detect_template(template: &str) -> Option<String> {
    let t = c_string(template).ok()?;
    let p = unsafe { sys::hearth_chat_detect_template(t.as_ptr()) };
    if p.is_null() { None } else { Some(cstr(p)) }
}

fn chat(model: *const sys::hearth_model, template: Option<&str>, messages: &[(&str, &str)], add_assistant: bool) -> Result<String> {
    let owned: Vec<(CString, CString)> =
        messages.iter().map(|(r, c)| Ok((c_string(r)?, c_string(c)?))).collect::<Result<_>>()?;
    let msgs: Vec<sys::hearth_chat_message> =
        owned.iter().map(|(r, c)| sys::hearth_chat_message { role: r.as_ptr(), content: c.as_ptr() }).collect();
    let tmpl = template.map(c_string).transpose()?;
    let tp = tmpl.as_ref().map_or(ptr::null(), |t| t.as_ptr());
    let v = text(|b, c, n| unsafe {
        sys::hearth_chat_apply_template(model, tp, msgs.as_ptr(), msgs.len(), add_assistant as i32, b, c, n)
    })?;
    Ok(String::from_utf8_lossy(&v).into_owned())
}

struct ModelInner(*mut sys::hearth_model);
// The C contract: a model is immutable after loading and may be used by any number of threads.
unsafe impl Send for ModelInner {}
unsafe impl Sync for ModelInner {}
impl Drop for ModelInner {
    fn drop(&mut self) {
        unsafe { sys::hearth_model_free(self.0) }
    }
}

/// A loaded model. Cheap to clone; freed when the last clone and the last session using it are gone.
#[derive(Clone)]
pub struct Model {
    inner: Arc<ModelInner>,
}

/// Options of [`Model::load_with`] (`Default`: the library's defaults, `hearth_model_params_init`).
#[derive(Default)]
pub struct ModelOptions<'a> {
    /// Load only the tokenizer (no weights needed in the file).
    pub vocab_only: bool,
    /// Read every weight once at load so the first tokens do not page-fault.
    pub prefault: bool,
    /// A [`gpu`] mode; `None` keeps the library's default ([`gpu::AUTO`]).
    pub gpu_offload: Option<i32>,
    /// VRAM for weights and one session's KV cache (0: free memory minus a margin).
    pub vram_budget_bytes: u64,
    /// A PowerInfer `.gpuidx` giving the hot neurons (`None`: the placement solver decides).
    pub gpuidx_path: Option<&'a std::path::Path>,
    /// The context the GPU layers' KV cache is budgeted for (0: min(training, 4096)).
    pub gpu_n_ctx: i32,
    /// [`gpu::LAYERS`]: at most this many layers from the first, the output matrix only past the model's layers
    /// (llama.cpp's `-ngl`; 0: as many as the budget holds).
    pub gpu_n_layers: i32,
    /// Keep every weight as the file has it: no row groups for decode (less load time, slower tokens).
    pub no_repack: bool,
    /// Called with the fraction loaded; return `false` to abort the load (an error with `status::CANCELLED`), as
    /// every callback of the bindings does. A panic in it aborts the load and is resumed in the caller.
    pub progress: Option<&'a mut dyn FnMut(f32) -> bool>,
}

struct Progress<'a> {
    f: &'a mut dyn FnMut(f32) -> bool,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

unsafe extern "C" fn on_progress(fraction: f32, user: *mut c_void) -> i32 {
    let pr = &mut *(user as *mut Progress);
    match catch_unwind(AssertUnwindSafe(|| (pr.f)(fraction))) {
        Ok(go_on) => go_on as i32,
        Err(p) => {
            pr.panic = Some(p);
            0
        }
    }
}

fn path_string(path: &std::path::Path) -> Result<CString> {
    c_string(path.to_str().ok_or(Error { status: sys::HEARTH_ERR_INVALID_ARGUMENT, message: "path is not UTF-8".into() })?)
}

impl Model {
    /// Maps a GGUF (or PowerInfer PWRI) file with the default options.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Model> {
        Model::load_with(path, ModelOptions::default())
    }
    /// Maps a model file with [`ModelOptions`].
    pub fn load_with(path: impl AsRef<std::path::Path>, opts: ModelOptions) -> Result<Model> {
        check_layout()?;
        let c = path_string(path.as_ref())?;
        let gpuidx = opts.gpuidx_path.map(path_string).transpose()?;
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_model_params>() };
        unsafe { sys::hearth_model_params_init(&mut p) };
        p.vocab_only = opts.vocab_only as i32;
        p.prefault = opts.prefault as i32;
        if let Some(mode) = opts.gpu_offload {
            p.gpu_offload = mode;
        }
        p.vram_budget_bytes = opts.vram_budget_bytes;
        p.gpu_n_ctx = opts.gpu_n_ctx;
        p.gpu_n_layers = opts.gpu_n_layers;
        p.no_repack = opts.no_repack as i32;
        p.gpuidx_path = gpuidx.as_ref().map_or(ptr::null(), |g| g.as_ptr());
        let mut pr = opts.progress.map(|f| Progress { f, panic: None });
        if let Some(pr) = pr.as_mut() {
            p.progress = Some(on_progress);
            p.progress_user = pr as *mut Progress as *mut c_void;
        }
        let mut m = ptr::null_mut();
        let st = unsafe { sys::hearth_model_load(c.as_ptr(), &p, &mut m) };
        if let Some(panic) = pr.and_then(|mut pr| pr.panic.take()) {
            resume_unwind(panic);
        }
        check(st)?;
        Ok(Model { inner: Arc::new(ModelInner(m)) })
    }
    fn raw(&self) -> *const sys::hearth_model {
        self.inner.0
    }
    /// The vocabulary size (the length of a logits row).
    pub fn n_vocab(&self) -> i32 {
        unsafe { sys::hearth_model_n_vocab(self.raw()) }
    }
    /// The number of transformer layers.
    pub fn n_layer(&self) -> i32 {
        unsafe { sys::hearth_model_n_layer(self.raw()) }
    }
    /// The embedding width.
    pub fn n_embd(&self) -> i32 {
        unsafe { sys::hearth_model_n_embd(self.raw()) }
    }
    /// The number of weights.
    pub fn n_params(&self) -> u64 {
        unsafe { sys::hearth_model_n_params(self.raw()) }
    }
    /// The context length the model was trained with.
    pub fn n_ctx_train(&self) -> i32 {
        unsafe { sys::hearth_model_n_ctx_train(self.raw()) }
    }
    /// Bytes of weights.
    pub fn size_bytes(&self) -> u64 {
        unsafe { sys::hearth_model_size_bytes(self.raw()) }
    }
    /// Bytes of weights repacked into row groups at load for the CPU's decode (0 with `no_repack`).
    pub fn repacked_bytes(&self) -> u64 {
        unsafe { sys::hearth_model_repacked_bytes(self.raw()) }
    }
    /// The end-of-sequence token.
    pub fn eos(&self) -> i32 {
        unsafe { sys::hearth_model_eos(self.raw()) }
    }
    /// The begin-of-sequence token.
    pub fn bos(&self) -> i32 {
        unsafe { sys::hearth_model_bos(self.raw()) }
    }
    /// Whether `token` ends generation (EOS, EOT, ...).
    pub fn is_eog(&self, token: i32) -> bool {
        unsafe { sys::hearth_token_is_eog(self.raw(), token) != 0 }
    }
    /// One line: "llama 1.1B Q4_0, 22 layers, ...".
    pub fn description(&self) -> Result<String> {
        Ok(String::from_utf8_lossy(&text(|b, c, n| unsafe { sys::hearth_model_desc(self.raw(), b, c, n) })?).into_owned())
    }
    /// What of the model went to the GPU at load (`gpu_offload` is `HEARTH_GPU_NONE` when it runs on the CPU).
    pub fn gpu_info(&self) -> Result<gpu::Info> {
        let mut g = sys::hearth_gpu_info { struct_size: std::mem::size_of::<sys::hearth_gpu_info>() as u32, ..Default::default() };
        check(unsafe { sys::hearth_model_gpu_info(self.raw(), &mut g) })?;
        Ok(g)
    }
    /// A metadata value as text; `Ok(None)` when the key is absent.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        let k = c_string(key)?;
        match text(|b, c, n| unsafe { sys::hearth_model_meta(self.raw(), k.as_ptr(), b, c, n) }) {
            Ok(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            Err(e) if e.status == sys::HEARTH_ERR_INVALID_ARGUMENT => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Token ids of UTF-8 bytes (invalid UTF-8 is an error).
    pub fn tokenize_bytes(&self, text: &[u8], add_bos: bool) -> Result<Vec<i32>> {
        self.tokenize_with(text, add_bos, false)
    }
    /// As [`Model::tokenize_bytes`]; `special` parses control tokens (a chat template's marks) as tokens.
    pub fn tokenize_with(&self, text: &[u8], add_bos: bool, special: bool) -> Result<Vec<i32>> {
        let flags = tokenize_flags(add_bos, special);
        let mut cap = text.len() + 8;
        loop {
            let mut out = vec![0i32; cap];
            let mut n = 0usize;
            let st = unsafe { sys::hearth_tokenize(self.raw(), text.as_ptr() as *const c_char, text.len(), flags, out.as_mut_ptr(), cap, &mut n) };
            if st == sys::HEARTH_ERR_BUFFER_TOO_SMALL {
                cap = n;
                continue;
            }
            check(st)?;
            out.truncate(n);
            return Ok(out);
        }
    }
    /// Token ids of `text`; `add_bos` puts the model's BOS first. Control tokens' text is plain text here (see [`Model::tokenize_with`]).
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<i32>> {
        self.tokenize_bytes(text.as_bytes(), add_bos)
    }
    /// One token's bytes (a token may hold part of a UTF-8 character).
    pub fn token_to_piece(&self, token: i32) -> Result<Vec<u8>> {
        self.token_to_piece_with(token, false)
    }
    /// As [`Model::token_to_piece`]; with `special` a control token gives its text (else nothing).
    pub fn token_to_piece_with(&self, token: i32, special: bool) -> Result<Vec<u8>> {
        text(|b, c, n| unsafe { sys::hearth_token_to_piece(self.raw(), token, special as i32, b, c, n) })
    }
    /// The text of `tokens` (invalid UTF-8 replaced).
    pub fn detokenize(&self, tokens: &[i32]) -> Result<String> {
        let v = text(|b, c, n| unsafe { sys::hearth_detokenize(self.raw(), tokens.as_ptr(), tokens.len(), 0, b, c, n) })?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }
    /// Formats a conversation with the model's chat template, or the named / given one.
    pub fn chat_apply_template(&self, messages: &[(&str, &str)], template: Option<&str>, add_assistant: bool) -> Result<String> {
        chat(self.raw(), template, messages, add_assistant)
    }
}

fn tokenize_flags(add_bos: bool, special: bool) -> i32 {
    (if add_bos { sys::HEARTH_TOKENIZE_ADD_BOS } else { 0 }) | (if special { sys::HEARTH_TOKENIZE_PARSE_SPECIAL } else { 0 })
}

/// The sampler's settings. `Default` is the library's (`hearth_sampler_params_init`), read from it rather than
/// restated, so every binding samples alike; `seed` defaults to [`SEED_RANDOM`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerParams {
    /// `<= 0`: greedy.
    pub temperature: f32,
    /// `<= 0`: off.
    pub top_k: i32,
    /// `>= 1`: off.
    pub top_p: f32,
    /// `<= 0`: off.
    pub min_p: f32,
    /// 1: off.
    pub repeat_penalty: f32,
    /// Tokens looked back over for the repeat penalty.
    pub repeat_last_n: i32,
    /// [`SEED_RANDOM`] (the default): a fresh seed each time the sampler is set; [`Session::seed`] reports it.
    pub seed: u64,
}

/// A seed asking for a fresh one each time the sampler is set; [`Session::seed`] reports the one drawn.
pub const SEED_RANDOM: u64 = sys::HEARTH_SEED_RANDOM;

impl Default for SamplerParams {
    fn default() -> SamplerParams {
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_sampler_params>() };
        unsafe { sys::hearth_sampler_params_init(&mut p) };
        SamplerParams {
            temperature: p.temperature,
            top_k: p.top_k,
            top_p: p.top_p,
            min_p: p.min_p,
            repeat_penalty: p.repeat_penalty,
            repeat_last_n: p.repeat_last_n,
            seed: p.seed,
        }
    }
}

impl SamplerParams {
    /// Always the most likely token.
    pub fn greedy() -> SamplerParams {
        SamplerParams { temperature: 0.0, ..Default::default() }
    }
}

/// Options of [`Session::generate_with`] (`Default`: the library's, `hearth_generate_params_init`).
#[derive(Clone, Copy, Debug)]
pub struct GenerateOptions {
    /// Tokens to generate at most.
    pub max_tokens: i32,
    /// Put the model's BOS before the prompt (default true).
    pub add_bos: bool,
    /// Stop at an end-of-generation token (default true); false evaluates it and goes on.
    pub stop_at_eog: bool,
}

impl Default for GenerateOptions {
    fn default() -> GenerateOptions {
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_generate_params>() };
        unsafe { sys::hearth_generate_params_init(&mut p) };
        GenerateOptions { max_tokens: p.n_predict, add_bos: p.add_bos != 0, stop_at_eog: p.stop_at_eog != 0 }
    }
}

/// Options of a new session (`Default`: the library's defaults).
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionOptions {
    /// Context length in tokens (0: the model's training context, capped at 4096).
    pub n_ctx: i32,
    /// Most tokens evaluated in one forward pass (0: the default, 256).
    pub n_batch: i32,
    /// Worker threads (0: every core).
    pub n_threads: i32,
    /// How the FFNs run: a `HEARTH_SPARSE_*` mode (0: auto).
    pub sparse_mode: i32,
    /// CATS: the fraction of neurons each layer skips (`None`: the library's default).
    pub cats_sparsity: Option<f32>,
    /// Host memory the session may take (0: what the machine has available).
    pub max_memory_bytes: u64,
    /// The KV cache's element types (`HEARTH_KV_*`; 0: the library's default, F16).
    pub type_k: i32,
    /// The V cache's element type (as `type_k`).
    pub type_v: i32,
}

struct SessionInner(*mut sys::hearth_session);
// hearth_session_cancel may be called from any thread; every other call goes through &mut Session.
unsafe impl Send for SessionInner {}
unsafe impl Sync for SessionInner {}
impl Drop for SessionInner {
    fn drop(&mut self) {
        unsafe { sys::hearth_session_free(self.0) }
    }
}

/// A conversation's state on a model: KV cache, sampler, pending prompt.
pub struct Session {
    inner: Arc<SessionInner>,
    model: Model,
}

/// Stops the session's running call (or its next one) from any thread.
#[derive(Clone)]
pub struct CancelHandle {
    inner: Arc<SessionInner>,
}

impl CancelHandle {
    /// Stops the session's running call (or its next one), from any thread.
    pub fn cancel(&self) {
        unsafe { sys::hearth_session_cancel(self.inner.0) }
    }
}

struct Trampoline<'a> {
    f: &'a mut dyn FnMut(&str) -> bool,
    panic: Option<Box<dyn std::any::Any + Send>>,
    pending: Vec<u8>,
}

unsafe extern "C" fn on_token(_t: i32, piece: *const c_char, len: usize, user: *mut c_void) -> i32 {
    let tr = &mut *(user as *mut Trampoline);
    let bytes = std::slice::from_raw_parts(piece as *const u8, len);
    // A panic must not unwind into C: catch it, stop the generation, and resume it on the Rust side.
    match catch_unwind(AssertUnwindSafe(|| {
        tr.pending.extend_from_slice(bytes);
        let s = String::from_utf8_lossy(&tr.pending).into_owned();
        tr.pending.clear();
        (tr.f)(&s)
    })) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(p) => {
            tr.panic = Some(p);
            1
        }
    }
}

impl Session {
    /// A session on `model` (which it keeps alive).
    pub fn new(model: &Model, opts: SessionOptions) -> Result<Session> {
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_session_params>() };
        unsafe { sys::hearth_session_params_init(&mut p) };
        p.n_ctx = opts.n_ctx;
        if opts.n_batch > 0 {
            p.n_batch = opts.n_batch;
        }
        p.n_threads = opts.n_threads;
        p.sparse_mode = opts.sparse_mode;
        if let Some(c) = opts.cats_sparsity {
            p.cats_sparsity = c;
        }
        p.max_memory_bytes = opts.max_memory_bytes;
        p.type_k = opts.type_k;
        p.type_v = opts.type_v;
        let mut s = ptr::null_mut();
        check(unsafe { sys::hearth_session_create(model.raw(), &p, &mut s) })?;
        Ok(Session { inner: Arc::new(SessionInner(s)), model: model.clone() })
    }
    fn raw(&self) -> *mut sys::hearth_session {
        self.inner.0
    }
    /// The model this session runs.
    pub fn model(&self) -> &Model {
        &self.model
    }
    /// A handle that cancels this session's calls from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { inner: self.inner.clone() }
    }
    /// The context length.
    pub fn n_ctx(&self) -> i32 {
        unsafe { sys::hearth_session_n_ctx(self.raw()) }
    }
    /// Tokens the session holds (evaluated so far).
    pub fn n_past(&self) -> i32 {
        unsafe { sys::hearth_session_n_past(self.raw()) }
    }
    /// How the FFNs run: "dense", "sparse (predictor)", ...
    pub fn mode(&self) -> String {
        cstr(unsafe { sys::hearth_session_mode(self.raw()) })
    }
    /// The message of this session's last failed call ("" if none), as its [`Error`] carried.
    pub fn last_error(&self) -> String {
        cstr(unsafe { sys::hearth_session_last_error(self.raw()) })
    }
    /// Forgets every evaluated token and queued input; keeps the sampler.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::hearth_session_reset(self.raw()) })
    }
    /// Keeps the first `n_keep` evaluated tokens and forgets the rest of the context (and any queued input).
    pub fn truncate(&mut self, n_keep: i32) -> Result<()> {
        check(unsafe { sys::hearth_session_truncate(self.raw(), n_keep) })
    }
    /// The session's state (context, last logits, queued input, the sampler's generator) for [`Session::load_state`].
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let mut n = 0usize;
        check(unsafe { sys::hearth_session_state_size(self.raw(), &mut n) })?;
        let mut buf = vec![0u8; n];
        check(unsafe { sys::hearth_session_state_save(self.raw(), buf.as_mut_ptr() as *mut c_void, buf.len(), &mut n) })?;
        buf.truncate(n);
        Ok(buf)
    }
    /// Restores a state from [`Session::save_state`]; a refused one leaves the session as it was.
    pub fn load_state(&mut self, state: &[u8]) -> Result<()> {
        check(unsafe { sys::hearth_session_state_load(self.raw(), state.as_ptr() as *const c_void, state.len()) })
    }
    /// [`Session::save_state`] into a file, written whole or not at all.
    pub fn save_state_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let c = path_string(path.as_ref())?;
        check(unsafe { sys::hearth_session_state_save_file(self.raw(), c.as_ptr()) })
    }
    /// [`Session::load_state`] from a file.
    pub fn load_state_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let c = path_string(path.as_ref())?;
        check(unsafe { sys::hearth_session_state_load_file(self.raw(), c.as_ptr()) })
    }
    /// Greedy sampling (temperature 0).
    pub fn set_greedy(&mut self) -> Result<()> {
        self.set_sampler(&SamplerParams::greedy())
    }
    /// Sets the sampler and re-seeds it (a fresh seed for [`SEED_RANDOM`], the default).
    pub fn set_sampler(&mut self, params: &SamplerParams) -> Result<()> {
        let p = sys::hearth_sampler_params {
            struct_size: std::mem::size_of::<sys::hearth_sampler_params>() as u32,
            temperature: params.temperature,
            top_k: params.top_k,
            top_p: params.top_p,
            min_p: params.min_p,
            repeat_penalty: params.repeat_penalty,
            repeat_last_n: params.repeat_last_n,
            seed: params.seed,
        };
        check(unsafe { sys::hearth_session_set_sampler(self.raw(), &p) })
    }
    /// The seed the sampler was last set with: the one given, or the one drawn for [`SEED_RANDOM`]; set it again
    /// to repeat a run.
    pub fn seed(&self) -> u64 {
        unsafe { sys::hearth_session_seed(self.raw()) }
    }
    /// Evaluates `tokens` after those the session holds, keeping the last token's logits.
    pub fn eval(&mut self, tokens: &[i32]) -> Result<()> {
        self.eval_with(tokens, false)
    }
    /// As [`Session::eval`]; with `all_logits` every token's logits are kept ([`Session::logits_at`]).
    pub fn eval_with(&mut self, tokens: &[i32], all_logits: bool) -> Result<()> {
        let n = i32::try_from(tokens.len()).map_err(|_| Error { status: sys::HEARTH_ERR_INVALID_ARGUMENT, message: "too many tokens".into() })?;
        check(unsafe { sys::hearth_session_eval(self.raw(), tokens.as_ptr(), n, all_logits as i32) })
    }
    /// The last evaluated token's logits.
    pub fn logits(&self) -> Option<&[f32]> {
        self.logits_at(-1)
    }
    /// The logits of token `i` of the last eval (-1: its last), if kept.
    pub fn logits_at(&self, i: i32) -> Option<&[f32]> {
        let p = unsafe { sys::hearth_session_logits(self.raw(), i) };
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, self.model.n_vocab() as usize) })
    }
    /// Samples a token from the last logits and remembers it for the repeat penalty.
    pub fn sample(&mut self) -> Result<i32> {
        let mut t = 0;
        check(unsafe { sys::hearth_session_sample(self.raw(), &mut t) })?;
        Ok(t)
    }
    /// Generates after `prompt`, calling `on_piece` with each piece of text (whole UTF-8 characters); return
    /// `false` from it to stop. A panic in `on_piece` stops the generation and is resumed here.
    pub fn generate(&mut self, prompt: &str, max_tokens: i32, on_piece: impl FnMut(&str) -> bool) -> Result<()> {
        self.generate_with(prompt, &GenerateOptions { max_tokens, ..Default::default() }, on_piece)
    }
    /// As [`Session::generate`], with the BOS and end-of-generation choices.
    pub fn generate_with(&mut self, prompt: &str, opts: &GenerateOptions, mut on_piece: impl FnMut(&str) -> bool) -> Result<()> {
        let c = c_string(prompt)?;
        let mut tr = Trampoline { f: &mut on_piece, panic: None, pending: Vec::new() };
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_generate_params>() };
        unsafe { sys::hearth_generate_params_init(&mut p) };
        p.n_predict = opts.max_tokens;
        p.add_bos = opts.add_bos as i32;
        p.stop_at_eog = opts.stop_at_eog as i32;
        p.on_token = Some(on_token);
        p.user = &mut tr as *mut Trampoline as *mut c_void;
        let st = unsafe { sys::hearth_generate(self.raw(), c.as_ptr(), &p) };
        if let Some(panic) = tr.panic.take() {
            resume_unwind(panic);
        }
        check(st)
    }
    /// Queues text for [`Session::step`].
    pub fn feed(&mut self, text: &str, add_bos: bool) -> Result<()> {
        self.feed_with(text, add_bos, false)
    }
    /// As [`Session::feed`]; `special` parses control tokens (a chat template's marks) as tokens.
    pub fn feed_with(&mut self, text: &str, add_bos: bool, special: bool) -> Result<()> {
        let flags = tokenize_flags(add_bos, special);
        check(unsafe { sys::hearth_session_feed(self.raw(), text.as_ptr() as *const c_char, text.len(), flags) })
    }
    /// One bounded piece of work: `None` after evaluating a chunk of queued text, else the next token.
    pub fn step(&mut self) -> Result<Option<i32>> {
        let mut t = 0;
        check(unsafe { sys::hearth_session_step(self.raw(), &mut t) })?;
        Ok((t >= 0).then_some(t))
    }
    /// What the FFNs did over the tokens evaluated since the session was created (or [`Session::reset_stats`]).
    pub fn sparse_stats(&self) -> Result<sys::hearth_sparse_stats> {
        let mut s = sys::hearth_sparse_stats { struct_size: std::mem::size_of::<sys::hearth_sparse_stats>() as u32, ..Default::default() };
        check(unsafe { sys::hearth_session_sparse_stats(self.raw(), &mut s) })?;
        Ok(s)
    }
    /// Zeroes the counters `sparse_stats` reports.
    pub fn reset_stats(&mut self) -> Result<()> {
        check(unsafe { sys::hearth_session_reset_stats(self.raw()) })
    }
    /// Prompt and generation counts and times of the last `generate` or step run.
    pub fn perf(&self) -> Result<Perf> {
        let mut p = Perf { struct_size: std::mem::size_of::<Perf>() as u32, ..Default::default() };
        check(unsafe { sys::hearth_session_perf(self.raw(), &mut p) })?;
        Ok(p)
    }
    /// Overrides the activation threshold of one layer (-1: every layer) for the predictor and CATS modes.
    pub fn set_threshold(&mut self, layer: i32, threshold: f32) -> Result<()> {
        check(unsafe { sys::hearth_session_set_threshold(self.raw(), layer, threshold) })
    }
}
