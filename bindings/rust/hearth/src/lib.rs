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
use hearth_sys as sys;
use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::os::raw::c_char;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Once};

pub use sys::{HEARTH_SPARSE_AUTO, HEARTH_SPARSE_CATS, HEARTH_SPARSE_DENSE, HEARTH_SPARSE_EXACT_GATE, HEARTH_SPARSE_PREDICTOR};

/// What a failed call returns: the `HEARTH_ERR_*` status and the library's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: i32,
    pub message: String,
}

impl Error {
    fn last(status: i32) -> Error {
        Error { status, message: cstr(unsafe { sys::hearth_last_error() }) }
    }
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

pub type Result<T> = std::result::Result<T, Error>;

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

pub fn version() -> String {
    cstr(unsafe { sys::hearth_version_string() })
}
pub fn cpu_isa() -> String {
    cstr(unsafe { sys::hearth_cpu_isa() })
}
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

impl Model {
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Model> {
        check_layout()?;
        let path = path.as_ref().to_str().ok_or(Error { status: sys::HEARTH_ERR_INVALID_ARGUMENT, message: "path is not UTF-8".into() })?;
        let c = c_string(path)?;
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_model_params>() };
        unsafe { sys::hearth_model_params_init(&mut p) };
        let mut m = ptr::null_mut();
        check(unsafe { sys::hearth_model_load(c.as_ptr(), &p, &mut m) })?;
        Ok(Model { inner: Arc::new(ModelInner(m)) })
    }
    fn raw(&self) -> *const sys::hearth_model {
        self.inner.0
    }
    pub fn n_vocab(&self) -> i32 {
        unsafe { sys::hearth_model_n_vocab(self.raw()) }
    }
    pub fn n_layer(&self) -> i32 {
        unsafe { sys::hearth_model_n_layer(self.raw()) }
    }
    pub fn n_embd(&self) -> i32 {
        unsafe { sys::hearth_model_n_embd(self.raw()) }
    }
    pub fn n_params(&self) -> u64 {
        unsafe { sys::hearth_model_n_params(self.raw()) }
    }
    pub fn bos(&self) -> i32 {
        unsafe { sys::hearth_model_bos(self.raw()) }
    }
    pub fn is_eog(&self, token: i32) -> bool {
        unsafe { sys::hearth_token_is_eog(self.raw(), token) != 0 }
    }
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
        let flags = if add_bos { sys::HEARTH_TOKENIZE_ADD_BOS } else { 0 };
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
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<i32>> {
        self.tokenize_bytes(text.as_bytes(), add_bos)
    }
    /// One token's bytes (a token may hold part of a UTF-8 character).
    pub fn token_to_piece(&self, token: i32) -> Result<Vec<u8>> {
        text(|b, c, n| unsafe { sys::hearth_token_to_piece(self.raw(), token, 0, b, c, n) })
    }
    pub fn detokenize(&self, tokens: &[i32]) -> Result<String> {
        let v = text(|b, c, n| unsafe { sys::hearth_detokenize(self.raw(), tokens.as_ptr(), tokens.len(), 0, b, c, n) })?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }
    /// Formats a conversation with the model's chat template, or the named / given one.
    pub fn chat_apply_template(&self, messages: &[(&str, &str)], template: Option<&str>, add_assistant: bool) -> Result<String> {
        chat(self.raw(), template, messages, add_assistant)
    }
}

/// Options of a new session (`Default`: the library's defaults).
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionOptions {
    pub n_ctx: i32,
    pub n_batch: i32,
    pub n_threads: i32,
    pub sparse_mode: i32,
    /// Host memory the session may take (0: what the machine has available).
    pub max_memory_bytes: u64,
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
    pub fn new(model: &Model, opts: SessionOptions) -> Result<Session> {
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_session_params>() };
        unsafe { sys::hearth_session_params_init(&mut p) };
        p.n_ctx = opts.n_ctx;
        if opts.n_batch > 0 {
            p.n_batch = opts.n_batch;
        }
        p.n_threads = opts.n_threads;
        p.sparse_mode = opts.sparse_mode;
        p.max_memory_bytes = opts.max_memory_bytes;
        let mut s = ptr::null_mut();
        check(unsafe { sys::hearth_session_create(model.raw(), &p, &mut s) })?;
        Ok(Session { inner: Arc::new(SessionInner(s)), model: model.clone() })
    }
    fn raw(&self) -> *mut sys::hearth_session {
        self.inner.0
    }
    pub fn model(&self) -> &Model {
        &self.model
    }
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { inner: self.inner.clone() }
    }
    pub fn n_past(&self) -> i32 {
        unsafe { sys::hearth_session_n_past(self.raw()) }
    }
    pub fn mode(&self) -> String {
        cstr(unsafe { sys::hearth_session_mode(self.raw()) })
    }
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::hearth_session_reset(self.raw()) })
    }
    pub fn set_greedy(&mut self) -> Result<()> {
        self.set_sampler(0.0, 0, 1.0, 0.0, 0)
    }
    pub fn set_sampler(&mut self, temperature: f32, top_k: i32, top_p: f32, min_p: f32, seed: u64) -> Result<()> {
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_sampler_params>() };
        unsafe { sys::hearth_sampler_params_init(&mut p) };
        p.temperature = temperature;
        p.top_k = top_k;
        p.top_p = top_p;
        p.min_p = min_p;
        p.seed = seed;
        check(unsafe { sys::hearth_session_set_sampler(self.raw(), &p) })
    }
    pub fn eval(&mut self, tokens: &[i32]) -> Result<()> {
        let n = i32::try_from(tokens.len()).map_err(|_| Error { status: sys::HEARTH_ERR_INVALID_ARGUMENT, message: "too many tokens".into() })?;
        check(unsafe { sys::hearth_session_eval(self.raw(), tokens.as_ptr(), n, 0) })
    }
    /// The last evaluated token's logits.
    pub fn logits(&self) -> Option<&[f32]> {
        let p = unsafe { sys::hearth_session_logits(self.raw(), -1) };
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, self.model.n_vocab() as usize) })
    }
    pub fn sample(&mut self) -> Result<i32> {
        let mut t = 0;
        check(unsafe { sys::hearth_session_sample(self.raw(), &mut t) })?;
        Ok(t)
    }
    /// Generates after `prompt`, calling `on_piece` with each piece of text (whole UTF-8 characters); return
    /// `false` from it to stop. A panic in `on_piece` stops the generation and is resumed here.
    pub fn generate(&mut self, prompt: &str, max_tokens: i32, mut on_piece: impl FnMut(&str) -> bool) -> Result<()> {
        let c = c_string(prompt)?;
        let mut tr = Trampoline { f: &mut on_piece, panic: None, pending: Vec::new() };
        let mut p = unsafe { std::mem::zeroed::<sys::hearth_generate_params>() };
        unsafe { sys::hearth_generate_params_init(&mut p) };
        p.n_predict = max_tokens;
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
        let flags = if add_bos { sys::HEARTH_TOKENIZE_ADD_BOS } else { 0 };
        check(unsafe { sys::hearth_session_feed(self.raw(), text.as_ptr() as *const c_char, text.len(), flags) })
    }
    /// One bounded piece of work: `None` after evaluating a chunk of queued text, else the next token.
    pub fn step(&mut self) -> Result<Option<i32>> {
        let mut t = 0;
        check(unsafe { sys::hearth_session_step(self.raw(), &mut t) })?;
        Ok((t >= 0).then_some(t))
    }
    pub fn sparse_stats(&self) -> Result<sys::hearth_sparse_stats> {
        let mut s = sys::hearth_sparse_stats { struct_size: std::mem::size_of::<sys::hearth_sparse_stats>() as u32, ..Default::default() };
        check(unsafe { sys::hearth_session_sparse_stats(self.raw(), &mut s) })?;
        Ok(s)
    }
}
