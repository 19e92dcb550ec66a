//! Raw declarations of the hearth C API (`include/hearth.h`), written by hand. Use the `hearth` crate for a safe API.
#![allow(non_camel_case_types)]
use std::os::raw::{c_char, c_float, c_void};

pub type hearth_status = i32;
pub type hearth_token = i32;

/// The hearth.h these declarations mirror; `hearth_abi_version()` is the loaded library's.
pub const HEARTH_ABI_VERSION: u32 = 1;

pub const HEARTH_OK: hearth_status = 0;
pub const HEARTH_ERR_INVALID_ARGUMENT: hearth_status = 1;
pub const HEARTH_ERR_OUT_OF_MEMORY: hearth_status = 2;
pub const HEARTH_ERR_IO: hearth_status = 3;
pub const HEARTH_ERR_BAD_FORMAT: hearth_status = 4;
pub const HEARTH_ERR_UNSUPPORTED: hearth_status = 5;
pub const HEARTH_ERR_CONTEXT_FULL: hearth_status = 6;
pub const HEARTH_ERR_CANCELLED: hearth_status = 7;
pub const HEARTH_ERR_BUFFER_TOO_SMALL: hearth_status = 8;
pub const HEARTH_ERR_INTERNAL: hearth_status = 9;

pub const HEARTH_TOKENIZE_ADD_BOS: i32 = 1;
pub const HEARTH_TOKENIZE_PARSE_SPECIAL: i32 = 2;
/// `hearth_sampler_params.seed`: draw a fresh seed each time the sampler is set (`hearth_session_seed` reports it).
pub const HEARTH_SEED_RANDOM: u64 = u64::MAX;
pub const HEARTH_DETOKENIZE_SPECIAL: i32 = 1;

pub const HEARTH_SPARSE_AUTO: i32 = 0;
pub const HEARTH_SPARSE_DENSE: i32 = 1;
pub const HEARTH_SPARSE_PREDICTOR: i32 = 2;
pub const HEARTH_SPARSE_EXACT_GATE: i32 = 3;
pub const HEARTH_SPARSE_CATS: i32 = 4;

pub const HEARTH_KV_DEFAULT: i32 = 0;
pub const HEARTH_KV_F32: i32 = 1;
pub const HEARTH_KV_F16: i32 = 2;
pub const HEARTH_KV_Q8_0: i32 = 3;

pub const HEARTH_LOG_ERROR: i32 = 0;
pub const HEARTH_LOG_WARN: i32 = 1;
pub const HEARTH_LOG_INFO: i32 = 2;
pub const HEARTH_LOG_DEBUG: i32 = 3;

#[repr(C)]
pub struct hearth_model {
    _private: [u8; 0],
}
#[repr(C)]
pub struct hearth_session {
    _private: [u8; 0],
}

pub type hearth_log_fn = Option<unsafe extern "C" fn(level: i32, msg: *const c_char, user: *mut c_void)>;
pub type hearth_progress_fn = Option<unsafe extern "C" fn(progress: c_float, user: *mut c_void) -> i32>;
pub type hearth_token_fn =
    Option<unsafe extern "C" fn(token: hearth_token, piece: *const c_char, len: usize, user: *mut c_void) -> i32>;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct hearth_model_params {
    pub struct_size: u32,
    pub vocab_only: i32,
    pub progress: hearth_progress_fn,
    pub progress_user: *mut c_void,
    pub prefault: i32,
    pub gpu_offload: i32,
    pub vram_budget_bytes: u64,
    pub gpuidx_path: *const c_char,
    pub gpu_n_ctx: i32,
    pub gpu_n_layers: i32,
    pub no_repack: i32,
}

pub const HEARTH_GPU_AUTO: i32 = 0;
pub const HEARTH_GPU_NONE: i32 = 1;
pub const HEARTH_GPU_HYBRID: i32 = 2;
pub const HEARTH_GPU_LAYERS: i32 = 3;
pub const HEARTH_GPU_ATTENTION: i32 = 4;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct hearth_session_params {
    pub struct_size: u32,
    pub n_ctx: i32,
    pub n_batch: i32,
    pub n_threads: i32,
    pub sparse_mode: i32,
    pub cats_sparsity: c_float,
    pub max_memory_bytes: u64,
    pub type_k: i32,
    pub type_v: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct hearth_sampler_params {
    pub struct_size: u32,
    pub temperature: c_float,
    pub top_k: i32,
    pub top_p: c_float,
    pub min_p: c_float,
    pub repeat_penalty: c_float,
    pub repeat_last_n: i32,
    pub seed: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct hearth_generate_params {
    pub struct_size: u32,
    pub n_predict: i32,
    pub add_bos: i32,
    pub stop_at_eog: i32,
    pub on_token: hearth_token_fn,
    pub user: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hearth_chat_message {
    pub role: *const c_char,
    pub content: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct hearth_gpu_info {
    pub struct_size: u32,
    pub gpu_offload: i32,
    pub vram_budget_bytes: u64,
    pub vram_weight_bytes: u64,
    pub n_layer_attention: i32,
    pub output_on_gpu: i32,
    pub neuron_fraction: f64,
    pub firing_share: f64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct hearth_sparse_stats {
    pub struct_size: u32,
    pub mode: i32,
    pub tokens: u64,
    pub active_fraction: f64,
    pub decode_bytes_per_token: f64,
    pub predictor_ms: f64,
    pub total_ms: f64,
    pub gpu_neuron_share: f64,
    pub gpu_bytes_per_token: f64,
    pub uses_gpu: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct hearth_perf {
    pub struct_size: u32,
    pub n_prompt: i32,
    pub n_generated: i32,
    pub prompt_ms: f64,
    pub generate_ms: f64,
}

extern "C" {
    pub fn hearth_version() -> u32;
    pub fn hearth_version_string() -> *const c_char;
    pub fn hearth_abi_version() -> u32;
    pub fn hearth_status_string(status: hearth_status) -> *const c_char;
    pub fn hearth_last_error() -> *const c_char;
    pub fn hearth_set_log_callback(f: hearth_log_fn, user: *mut c_void, max_level: i32);
    pub fn hearth_sizeof(type_name: *const c_char) -> usize;
    pub fn hearth_cpu_isa() -> *const c_char;
    pub fn hearth_gpu_count() -> i32;

    pub fn hearth_model_params_init(p: *mut hearth_model_params);
    pub fn hearth_model_load(path: *const c_char, p: *const hearth_model_params, out: *mut *mut hearth_model) -> hearth_status;
    pub fn hearth_model_free(m: *mut hearth_model);
    pub fn hearth_model_n_vocab(m: *const hearth_model) -> i32;
    pub fn hearth_model_n_ctx_train(m: *const hearth_model) -> i32;
    pub fn hearth_model_n_embd(m: *const hearth_model) -> i32;
    pub fn hearth_model_n_layer(m: *const hearth_model) -> i32;
    pub fn hearth_model_n_params(m: *const hearth_model) -> u64;
    pub fn hearth_model_size_bytes(m: *const hearth_model) -> u64;
    pub fn hearth_model_repacked_bytes(m: *const hearth_model) -> u64;
    pub fn hearth_model_bos(m: *const hearth_model) -> hearth_token;
    pub fn hearth_model_eos(m: *const hearth_model) -> hearth_token;
    pub fn hearth_token_is_eog(m: *const hearth_model, t: hearth_token) -> i32;
    pub fn hearth_model_desc(m: *const hearth_model, buf: *mut c_char, cap: usize, n_out: *mut usize) -> hearth_status;
    pub fn hearth_model_gpu_info(m: *const hearth_model, out: *mut hearth_gpu_info) -> hearth_status;
    pub fn hearth_model_meta(m: *const hearth_model, key: *const c_char, buf: *mut c_char, cap: usize, n_out: *mut usize)
        -> hearth_status;
    pub fn hearth_tokenize(m: *const hearth_model, text: *const c_char, len: usize, flags: i32, out: *mut hearth_token,
                           cap: usize, n_out: *mut usize) -> hearth_status;
    pub fn hearth_token_to_piece(m: *const hearth_model, t: hearth_token, flags: i32, buf: *mut c_char, cap: usize,
                                 n_out: *mut usize) -> hearth_status;
    pub fn hearth_detokenize(m: *const hearth_model, tokens: *const hearth_token, n: usize, flags: i32, buf: *mut c_char,
                             cap: usize, n_out: *mut usize) -> hearth_status;

    pub fn hearth_chat_apply_template(m: *const hearth_model, tmpl: *const c_char, messages: *const hearth_chat_message,
                                      n: usize, add_assistant: i32, buf: *mut c_char, cap: usize, n_out: *mut usize)
        -> hearth_status;
    pub fn hearth_chat_builtin_templates() -> *const c_char;
    pub fn hearth_chat_detect_template(tmpl: *const c_char) -> *const c_char;

    pub fn hearth_session_params_init(p: *mut hearth_session_params);
    pub fn hearth_session_create(m: *const hearth_model, p: *const hearth_session_params, out: *mut *mut hearth_session)
        -> hearth_status;
    pub fn hearth_session_free(s: *mut hearth_session);
    pub fn hearth_session_last_error(s: *const hearth_session) -> *const c_char;
    pub fn hearth_session_reset(s: *mut hearth_session) -> hearth_status;
    pub fn hearth_session_truncate(s: *mut hearth_session, n_keep: i32) -> hearth_status;
    pub fn hearth_session_state_size(s: *const hearth_session, out: *mut usize) -> hearth_status;
    pub fn hearth_session_state_save(s: *mut hearth_session, buf: *mut c_void, cap: usize, n_out: *mut usize) -> hearth_status;
    pub fn hearth_session_state_load(s: *mut hearth_session, buf: *const c_void, size: usize) -> hearth_status;
    pub fn hearth_session_state_save_file(s: *mut hearth_session, path: *const c_char) -> hearth_status;
    pub fn hearth_session_state_load_file(s: *mut hearth_session, path: *const c_char) -> hearth_status;
    pub fn hearth_session_n_past(s: *const hearth_session) -> i32;
    pub fn hearth_session_n_ctx(s: *const hearth_session) -> i32;
    pub fn hearth_session_mode(s: *const hearth_session) -> *const c_char;
    pub fn hearth_session_set_threshold(s: *mut hearth_session, layer: i32, threshold: c_float) -> hearth_status;
    pub fn hearth_session_sparse_stats(s: *const hearth_session, out: *mut hearth_sparse_stats) -> hearth_status;
    pub fn hearth_session_reset_stats(s: *mut hearth_session) -> hearth_status;
    pub fn hearth_session_cancel(s: *mut hearth_session);
    pub fn hearth_session_eval(s: *mut hearth_session, tokens: *const hearth_token, n: i32, all_logits: i32) -> hearth_status;
    pub fn hearth_session_logits(s: *const hearth_session, i: i32) -> *const c_float;
    pub fn hearth_sampler_params_init(p: *mut hearth_sampler_params);
    pub fn hearth_session_set_sampler(s: *mut hearth_session, p: *const hearth_sampler_params) -> hearth_status;
    pub fn hearth_session_sample(s: *mut hearth_session, out: *mut hearth_token) -> hearth_status;
    pub fn hearth_session_seed(s: *const hearth_session) -> u64;
    pub fn hearth_generate_params_init(p: *mut hearth_generate_params);
    pub fn hearth_generate(s: *mut hearth_session, prompt: *const c_char, p: *const hearth_generate_params) -> hearth_status;
    pub fn hearth_session_perf(s: *const hearth_session, out: *mut hearth_perf) -> hearth_status;
    pub fn hearth_session_feed(s: *mut hearth_session, text: *const c_char, len: usize, flags: i32) -> hearth_status;
    pub fn hearth_session_step(s: *mut hearth_session, token: *mut hearth_token) -> hearth_status;
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    // The mirrored structs against the library's own sizes.
    #[test]
    fn layouts_match_the_library() {
        let check = |name: &str, size: usize| {
            let c = std::ffi::CString::new(name).unwrap();
            assert_eq!(unsafe { hearth_sizeof(c.as_ptr()) }, size, "{name}");
        };
        check("hearth_model_params", size_of::<hearth_model_params>());
        check("hearth_session_params", size_of::<hearth_session_params>());
        check("hearth_sampler_params", size_of::<hearth_sampler_params>());
        check("hearth_generate_params", size_of::<hearth_generate_params>());
        check("hearth_sparse_stats", size_of::<hearth_sparse_stats>());
        check("hearth_perf", size_of::<hearth_perf>());
        check("hearth_gpu_info", size_of::<hearth_gpu_info>());
    }
}
