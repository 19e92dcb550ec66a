/** @file hearth.h
 * hearth: fast local LLM inference behind a stable C ABI.
 *
 * Conventions (see docs and the repository's design notes):
 *  - Every fallible call returns a hearth_status (0 = HEARTH_OK) and writes results through out-parameters.
 *    On failure, hearth_last_error() holds a thread-local message describing the last failed call on this thread.
 *  - hearth_model is immutable after loading and may be shared by any number of threads.
 *    hearth_session is mutable and must be used by one thread at a time; hearth_session_cancel() is the one
 *    exception and may be called from any thread.
 *  - Params structs begin with struct_size and are filled by their *_params_init() function; fields are only
 *    ever appended, and the library reads min(struct_size, sizeof) bytes, so old callers keep working.
 *  - Ownership: every handle a *_load / *_create call returns is the caller's, released by its *_free, which
 *    accepts NULL; freeing a handle twice, or using it after its *_free, is a caller bug the library cannot
 *    detect. A session keeps its model alive: hearth_model_free may come before hearth_session_free of the
 *    model's sessions (the model's memory goes with the last of them). Pointers the library returns (messages,
 *    logits, names) stay owned by it, valid as each function says; pointers the caller passes are only read
 *    during the call unless a field says otherwise.
 *  - Text is UTF-8. Output buffers are caller-owned and snprintf-style: the call writes at most cap bytes
 *    including the terminating NUL and reports the full length through *n_out.
 *  - Model files are memory-mapped, not read: a file truncated or rewritten by another process while a model
 *    uses it raises SIGBUS when the lost pages are touched (as with llama.cpp); the library does not install
 *    signal handlers. Keep model files immutable while they are loaded.
 *  - The library never prints to stdout and never terminates the process; it logs through the host's callback.
 *
 * The header is C99 and contains no bool or enum struct members, so every FFI can map it.
 */
#ifndef HEARTH_H
#define HEARTH_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(HEARTH_BUILD)
#    define HEARTH_API __declspec(dllexport)
#  elif defined(HEARTH_SHARED)
#    define HEARTH_API __declspec(dllimport)
#  else
#    define HEARTH_API
#  endif
#else
#  define HEARTH_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions ------------------------------------------------------------------------------------------ */
#define HEARTH_VERSION_MAJOR 0
#define HEARTH_VERSION_MINOR 1
#define HEARTH_VERSION_PATCH 0
#define HEARTH_VERSION_NUMBER (HEARTH_VERSION_MAJOR * 10000 + HEARTH_VERSION_MINOR * 100 + HEARTH_VERSION_PATCH)
/** Bumped on every incompatible change of this header; bindings compare it with hearth_abi_version(). */
#define HEARTH_ABI_VERSION 1

HEARTH_API uint32_t hearth_version(void);            /**< HEARTH_VERSION_NUMBER of the loaded library */
HEARTH_API const char *hearth_version_string(void);  /**< "0.1.0"; static storage */
HEARTH_API uint32_t hearth_abi_version(void);        /**< HEARTH_ABI_VERSION of the loaded library */

/* ---- status ---------------------------------------------------------------------------------------------- */
typedef int32_t hearth_status;
#define HEARTH_OK 0
#define HEARTH_ERR_INVALID_ARGUMENT 1 /**< NULL handle, bad parameter, wrong shape, bad UTF-8 */
#define HEARTH_ERR_OUT_OF_MEMORY 2
#define HEARTH_ERR_IO 3               /**< file cannot be opened, read or mapped */
#define HEARTH_ERR_BAD_FORMAT 4       /**< malformed or truncated model file */
#define HEARTH_ERR_UNSUPPORTED 5      /**< valid file, but an architecture or tensor type hearth does not run */
#define HEARTH_ERR_CONTEXT_FULL 6     /**< the session's context cannot hold the tokens */
#define HEARTH_ERR_CANCELLED 7        /**< hearth_session_cancel() or a progress callback stopped the call */
#define HEARTH_ERR_BUFFER_TOO_SMALL 8 /**< output truncated; *n_out says how much was needed */
#define HEARTH_ERR_INTERNAL 9

/** Static, never NULL. */
HEARTH_API const char *hearth_status_string(hearth_status status);
/** Message of the last failed call on the calling thread ("" if none). Valid until the next hearth call on it. */
HEARTH_API const char *hearth_last_error(void);

/* ---- logging ------------------------------------------------------------------------------------------- */
#define HEARTH_LOG_ERROR 0
#define HEARTH_LOG_WARN 1
#define HEARTH_LOG_INFO 2
#define HEARTH_LOG_DEBUG 3
/** Called from any library thread; msg has no trailing newline. */
typedef void (*hearth_log_fn)(int32_t level, const char *msg, void *user);
/** Global: set it before other use. fn NULL silences the library (the default). Messages above max_level drop. */
HEARTH_API void hearth_set_log_callback(hearth_log_fn fn, void *user, int32_t max_level);

/* ---- models -------------------------------------------------------------------------------------------- */
typedef int32_t hearth_token;
typedef struct hearth_model hearth_model;
typedef struct hearth_session hearth_session;

/** Progress in [0, 1]; return 0 to abort (the call then fails with HEARTH_ERR_CANCELLED). */
typedef int32_t (*hearth_progress_fn)(float progress, void *user);

typedef struct hearth_model_params {
  uint32_t struct_size;
  int32_t vocab_only;            /**< 1: load only the tokenizer (no weights needed in the file) */
  hearth_progress_fn progress;   /**< may be NULL */
  void *progress_user;
  int32_t prefault;              /**< 1: read all weights once at load so first tokens do not page-fault */
  /** GPU offload, decided at load (all sessions of the model share it). Without a usable GPU (no driver, no
   * device, a build without CUDA, a failed allocation) the model loads CPU-only with a logged warning. */
  int32_t gpu_offload;           /**< HEARTH_GPU_*; default HEARTH_GPU_AUTO */
  uint64_t vram_budget_bytes;    /**< VRAM for weights and one session's KV cache; 0 = free memory minus a margin */
  const char *gpuidx_path;       /**< PowerInfer .gpuidx giving the hot neurons; NULL = the placement solver decides */
  int32_t gpu_n_ctx;             /**< context the GPU layers' KV cache is budgeted for; 0 = min(training, 4096) */
  /** HEARTH_GPU_LAYERS: at most this many layers from the first go to the GPU, and the output matrix only when it
   * is more than the model's layers (llama.cpp's -ngl: 99 is "everything"); 0 (the default) = as many as the
   * budget holds, then the output. The budget bounds it either way. */
  int32_t gpu_n_layers;
  /** 1: keep every weight as the file has it. By default (0) the matrices the CPU reads whole for every token
   * (Q4_0 attention, output and dense FFN matrices, where the CPU's kernel tier has row-group kernels)
   * are repacked at load into row groups, 16 rows interleaved, which decode reads faster; it costs a pass over
   * those weights at load, and their file pages are handed back so memory stays about the same. */
  int32_t no_repack;
} hearth_model_params;

/* hearth_model_params.gpu_offload */
#define HEARTH_GPU_AUTO 0    /**< hybrid when a GPU is usable, else CPU */
#define HEARTH_GPU_NONE 1    /**< CPU only */
#define HEARTH_GPU_HYBRID 2  /**< hot neurons and the most valuable dense tensors in VRAM, the rest on the CPU */
#define HEARTH_GPU_LAYERS 3  /**< whole layers from the first while the budget lasts (llama.cpp's -ngl) */
#define HEARTH_GPU_ATTENTION 4 /**< attention of every layer (and the output) while the budget lasts, every FFN and
                                * mixture of experts on the CPU (llama.cpp's -ngl 99 -ot exps=CPU, --n-cpu-moe) */

HEARTH_API void hearth_model_params_init(hearth_model_params *params);

/** params may be NULL for the defaults. *out is set to NULL on failure. */
HEARTH_API hearth_status hearth_model_load(const char *path, const hearth_model_params *params, hearth_model **out);
HEARTH_API void hearth_model_free(hearth_model *model);

/* Queries on a NULL model return 0 (or -1 for token ids). */
HEARTH_API int32_t hearth_model_n_vocab(const hearth_model *model);
HEARTH_API int32_t hearth_model_n_ctx_train(const hearth_model *model);
HEARTH_API int32_t hearth_model_n_embd(const hearth_model *model);
HEARTH_API int32_t hearth_model_n_layer(const hearth_model *model);
HEARTH_API uint64_t hearth_model_n_params(const hearth_model *model);
HEARTH_API uint64_t hearth_model_size_bytes(const hearth_model *model); /**< bytes of weights */
/** Bytes of weights repacked into row groups at load for the CPU's decode (0 with no_repack, or where nothing is) */
HEARTH_API uint64_t hearth_model_repacked_bytes(const hearth_model *model);
HEARTH_API hearth_token hearth_model_bos(const hearth_model *model);
HEARTH_API hearth_token hearth_model_eos(const hearth_model *model);
/** Nonzero for end-of-generation tokens (EOS, EOT). */
HEARTH_API int32_t hearth_token_is_eog(const hearth_model *model, hearth_token token);
/** One-line description, e.g. "llama 1.1B Q4_0, 22 layers, FFN silu-gated". */
HEARTH_API hearth_status hearth_model_desc(const hearth_model *model, char *buf, size_t cap, size_t *n_out);
/** A metadata value rendered as text (arrays as their length). HEARTH_ERR_INVALID_ARGUMENT if the key is absent. */
HEARTH_API hearth_status hearth_model_meta(const hearth_model *model, const char *key, char *buf, size_t cap,
                                           size_t *n_out);

/** What of the model went to the GPU at load (hearth_model_params.gpu_offload). */
typedef struct hearth_gpu_info {
  uint32_t struct_size;
  int32_t gpu_offload;          /**< HEARTH_GPU_HYBRID, _LAYERS or _ATTENTION in effect, HEARTH_GPU_NONE when CPU-only */
  uint64_t vram_budget_bytes;   /**< the budget the placement used */
  uint64_t vram_weight_bytes;   /**< weights (and their tables) placed in VRAM */
  int32_t n_layer_attention;    /**< layers whose attention, norms and predictor are on the GPU */
  int32_t output_on_gpu;        /**< 1 if the output matrix is */
  double neuron_fraction;       /**< FFN neurons resident on the GPU / all FFN neurons */
  double firing_share;          /**< share of neuron firings the GPU serves, by the frequencies placement used */
} hearth_gpu_info;
HEARTH_API hearth_status hearth_model_gpu_info(const hearth_model *model, hearth_gpu_info *out);

/* ---- tokenizer ----------------------------------------------------------------------------------------- */
#define HEARTH_TOKENIZE_ADD_BOS 1        /**< prepend BOS when the vocabulary asks for it */
#define HEARTH_TOKENIZE_PARSE_SPECIAL 2  /**< match control-token text such as "<s>" as the token itself */

/** Tokenizes len bytes of text (need not be NUL-terminated). Invalid UTF-8 → HEARTH_ERR_INVALID_ARGUMENT.
 * If cap is too small, fails with HEARTH_ERR_BUFFER_TOO_SMALL and *n_out holds the needed count. */
HEARTH_API hearth_status hearth_tokenize(const hearth_model *model, const char *text, size_t len, int32_t flags,
                                         hearth_token *out, size_t cap, size_t *n_out);

#define HEARTH_DETOKENIZE_SPECIAL 1  /**< render control tokens (e.g. "<s>") instead of dropping them */
/** The text of one token as it appears in generated output (a byte token is one raw byte). */
HEARTH_API hearth_status hearth_token_to_piece(const hearth_model *model, hearth_token token, int32_t flags,
                                               char *buf, size_t cap, size_t *n_out);
/** Inverse of hearth_tokenize: drops the leading space the tokenizer added. */
HEARTH_API hearth_status hearth_detokenize(const hearth_model *model, const hearth_token *tokens, size_t n_tokens,
                                           int32_t flags, char *buf, size_t cap, size_t *n_out);

/* ---- chat templates ------------------------------------------------------------------------------------ */
typedef struct hearth_chat_message {
  const char *role;    /**< "system", "user" or "assistant" */
  const char *content; /**< NUL-terminated UTF-8 */
} hearth_chat_message;

/** Formats a conversation as the prompt text a chat model expects. tmpl is a built-in name
 * (hearth_chat_builtin_templates()) or a template text as model files carry it in tokenizer.chat_template; NULL
 * uses the model's own (model may be NULL only when tmpl is not). A template text is rendered by hearth's Jinja
 * subset as Hugging Face renders it (bos_token / eos_token are the model's); one that uses what the subset lacks
 * is formatted with the built-in format it is recognised as. add_assistant nonzero ends the text with the prefix
 * the assistant's reply follows. A BOS the template writes first is dropped: tokenize the text with
 * HEARTH_TOKENIZE_ADD_BOS | HEARTH_TOKENIZE_PARSE_SPECIAL. Output as hearth_model_desc (NUL-terminated;
 * BUFFER_TOO_SMALL with *n_out the length). UNSUPPORTED when hearth can format the template neither way (the
 * message lists the built-in names); INVALID_ARGUMENT for a role other than the three, NULL strings, invalid
 * UTF-8, or a conversation the template itself refuses (its raise_exception message). */
HEARTH_API hearth_status hearth_chat_apply_template(const hearth_model *model, const char *tmpl,
                                                    const hearth_chat_message *messages, size_t n_messages,
                                                    int32_t add_assistant, char *buf, size_t cap, size_t *n_out);
/** The built-in template names, comma-separated; static storage. */
HEARTH_API const char *hearth_chat_builtin_templates(void);
/** The built-in format a name or template text is recognised as (e.g. "chatml"), or NULL; static storage. */
HEARTH_API const char *hearth_chat_detect_template(const char *tmpl);

/* ---- sessions ------------------------------------------------------------------------------------------ */
/* How the FFNs run (hearth_session_params.sparse_mode). */
#define HEARTH_SPARSE_AUTO 0        /**< predictor if the file has one, exact gate for ReLU-family neuron-major files, else dense */
#define HEARTH_SPARSE_DENSE 1       /**< every neuron */
#define HEARTH_SPARSE_PREDICTOR 2   /**< PowerInfer files: neuron i runs iff its predictor logit >= the layer threshold */
#define HEARTH_SPARSE_EXACT_GATE 3  /**< ReLU-family: dense gate, then only neurons whose gate is > 0 (exact) */
#define HEARTH_SPARSE_CATS 4        /**< SwiGLU: dense gate, then neurons with |silu(gate)| >= a calibrated threshold */

/* The element type of the host KV cache (hearth_session_params.type_k / type_v). F16 halves the memory and the
 * bytes attention reads against F32 at a rounding of the cached keys and values; Q8_0 (blocks of 32 values with
 * one scale) halves them again and needs heads a multiple of 32 wide. A GPU layer's cache has the device's type. */
#define HEARTH_KV_DEFAULT 0 /**< F16 */
#define HEARTH_KV_F32 1
#define HEARTH_KV_F16 2
#define HEARTH_KV_Q8_0 3

typedef struct hearth_session_params {
  uint32_t struct_size;
  int32_t n_ctx;         /**< context length in tokens; 0 = the model's training context (capped at 4096) */
  int32_t n_batch;       /**< most tokens evaluated in one forward pass (prompt chunking); default 256 */
  int32_t n_threads;     /**< worker threads of the session's own arena; 0 = all cores */
  int32_t sparse_mode;   /**< HEARTH_SPARSE_*; default HEARTH_SPARSE_AUTO */
  float cats_sparsity;   /**< CATS: fraction of neurons each layer skips, calibrated at session creation; default 0.5 */
  /** Host memory the session may take (KV cache, buffers, scratch; estimated before anything is allocated, and
   * refused with HEARTH_ERR_OUT_OF_MEMORY and the figure): 0 = what the machine has available (the default),
   * UINT64_MAX = no limit. The KV cache's pages are committed only as the context fills. */
  uint64_t max_memory_bytes;
  int32_t type_k;        /**< HEARTH_KV_*: the K cache's element type; default F16 */
  int32_t type_v;        /**< HEARTH_KV_*: the V cache's element type; default F16 */
} hearth_session_params;

HEARTH_API void hearth_session_params_init(hearth_session_params *params);
HEARTH_API hearth_status hearth_session_create(const hearth_model *model, const hearth_session_params *params,
                                               hearth_session **out);
HEARTH_API void hearth_session_free(hearth_session *session);
/** Message of the session's last failed call ("" if none); valid until the next call on the session. */
HEARTH_API const char *hearth_session_last_error(const hearth_session *session);
/** Forget every evaluated token (the KV cache) and any queued input; keeps the sampler settings. */
HEARTH_API hearth_status hearth_session_reset(hearth_session *session);
HEARTH_API int32_t hearth_session_n_past(const hearth_session *session);
HEARTH_API int32_t hearth_session_n_ctx(const hearth_session *session);
/** Keeps the first n_keep evaluated tokens (0 <= n_keep <= n_past) and forgets the rest of the context, so a
 * conversation can be rewound or a shared prefix reused; queued input is dropped, and the last logits too unless
 * n_keep == n_past. The sampler's repetition history is kept. INVALID_ARGUMENT outside that range. */
HEARTH_API hearth_status hearth_session_truncate(hearth_session *session, int32_t n_keep);

/** @name Session state
 * A session's state: its context (the KV cache of the n_past evaluated positions), the last logits, the queued
 * input and the sampler's generator and repetition history (not its settings, which stay the loading session's).
 * The bytes are versioned and checksummed; loading checks them against the session (the same model, the same
 * KV cache types and placement, n_past <= its n_ctx) before changing anything, so a refused state
 * (BAD_FORMAT: corrupted or truncated; UNSUPPORTED: another version; INVALID_ARGUMENT: another model or cache
 * layout; CONTEXT_FULL: too long for this session) leaves the session as it was. A state holds only the
 * positions evaluated, so its size grows with n_past, not n_ctx.
 * @{ */
/** Bytes hearth_session_state_save needs now. */
HEARTH_API hearth_status hearth_session_state_size(const hearth_session *session, size_t *out);
/** Writes the state into buf (cap bytes; BUFFER_TOO_SMALL if fewer than the size); *n_out (may be NULL) gets
 * the bytes written, or needed when the buffer is too small. */
HEARTH_API hearth_status hearth_session_state_save(hearth_session *session, void *buf, size_t cap, size_t *n_out);
HEARTH_API hearth_status hearth_session_state_load(hearth_session *session, const void *buf, size_t size);
/** The same through a file (path in UTF-8). Saving writes PATH.partial and renames it over PATH at the end, so a
 * failed save leaves an existing file as it was. */
HEARTH_API hearth_status hearth_session_state_save_file(hearth_session *session, const char *path);
HEARTH_API hearth_status hearth_session_state_load_file(hearth_session *session, const char *path);
/** @} */

/** The session's FFN mode ("dense", "sparse (predictor)", ...); static storage. */
HEARTH_API const char *hearth_session_mode(const hearth_session *session);
/** Overrides the activation threshold of one layer (layer -1: all layers) for the predictor and CATS modes. */
HEARTH_API hearth_status hearth_session_set_threshold(hearth_session *session, int32_t layer, float threshold);

/** What the FFNs did over the tokens evaluated since the session was created or the stats were reset. */
typedef struct hearth_sparse_stats {
  uint32_t struct_size;
  int32_t mode;                  /**< HEARTH_SPARSE_* in effect */
  uint64_t tokens;               /**< tokens evaluated */
  double active_fraction;        /**< computed neurons / all neurons, over layers and tokens */
  double decode_bytes_per_token; /**< weight bytes read per one-token step (0 before any) */
  double predictor_ms;           /**< time in predictors */
  double total_ms;               /**< time in forward steps */
  double gpu_neuron_share;       /**< computed neurons that the GPU computed / all computed neurons */
  double gpu_bytes_per_token;    /**< of decode_bytes_per_token, the bytes the GPU read */
  int32_t uses_gpu;              /**< 1 if this session runs the hybrid CPU-GPU executor */
} hearth_sparse_stats;
HEARTH_API hearth_status hearth_session_sparse_stats(const hearth_session *session, hearth_sparse_stats *out);
HEARTH_API hearth_status hearth_session_reset_stats(hearth_session *session);

/** Cancels the call running on the session, or the next one started, from any thread; that call returns
 * HEARTH_ERR_CANCELLED and the request is consumed. */
HEARTH_API void hearth_session_cancel(hearth_session *session);

/** Evaluates tokens after those already in the session (in n_batch chunks). Logits of the last token are always
 * kept; with all_logits nonzero those of every token are. A failed call (CONTEXT_FULL, CANCELLED, any error)
 * leaves the session as it was before it: n_past unchanged, no logits, even if some chunks had been evaluated. */
HEARTH_API hearth_status hearth_session_eval(hearth_session *session, const hearth_token *tokens, int32_t n_tokens,
                                             int32_t all_logits);
/** n_vocab logits of token i of the last eval (i = -1: its last token), or NULL if not kept. Valid until the next
 * call that evaluates on this session. */
HEARTH_API const float *hearth_session_logits(const hearth_session *session, int32_t i);

/* ---- sampling ------------------------------------------------------------------------------------------ */
typedef struct hearth_sampler_params {
  uint32_t struct_size;
  float temperature;      /**< <= 0: greedy */
  int32_t top_k;          /**< <= 0: off */
  float top_p;            /**< >= 1: off */
  float min_p;            /**< <= 0: off */
  float repeat_penalty;   /**< 1: off */
  int32_t repeat_last_n;  /**< tokens looked back for the penalty */
  uint64_t seed;          /**< default HEARTH_SEED_RANDOM: a fresh seed each time the sampler is set */
} hearth_sampler_params;

/** hearth_sampler_params.seed asking for a seed drawn from the system's entropy (llama.cpp's LLAMA_DEFAULT_SEED):
 * runs that set no seed sample differently; hearth_session_seed() reports the one drawn. */
#define HEARTH_SEED_RANDOM UINT64_MAX

HEARTH_API void hearth_sampler_params_init(hearth_sampler_params *params);
/** Sets the sampler and re-seeds its random generator. Non-finite or out-of-range values are refused
 * (HEARTH_ERR_INVALID_ARGUMENT). NaN logits are never sampled; logits with no finite value fail the sample. */
HEARTH_API hearth_status hearth_session_set_sampler(hearth_session *session, const hearth_sampler_params *params);
/** Samples from the last logits and records the token for the repetition penalty (it is not evaluated). */
HEARTH_API hearth_status hearth_session_sample(hearth_session *session, hearth_token *out);
/** The seed the session's sampler was last set with: the one given, or the one drawn for HEARTH_SEED_RANDOM (a
 * new session's sampler has the defaults, so a drawn seed). Setting the sampler again with this value repeats the
 * samples. HEARTH_SEED_RANDOM for a NULL session. */
HEARTH_API uint64_t hearth_session_seed(const hearth_session *session);

/* ---- one-call generation ------------------------------------------------------------------------------- */
/** Called for each generated token with its text. piece is always valid UTF-8: bytes of a character split over
 * several tokens arrive with its last token (so piece_len may be 0), and bytes that can never form a character
 * are replaced by U+FFFD. If generation ends (n_predict, an end-of-generation token) with bytes of an unfinished
 * character held back, they come as U+FFFD in one last call whose token is -1. piece is NUL-terminated and valid
 * only during the call. Return nonzero to stop. */
typedef int32_t (*hearth_token_fn)(hearth_token token, const char *piece, size_t piece_len, void *user);

typedef struct hearth_generate_params {
  uint32_t struct_size;
  int32_t n_predict;        /**< most tokens to generate; default 128 */
  int32_t add_bos;          /**< default 1 */
  int32_t stop_at_eog;      /**< default 1 */
  hearth_token_fn on_token; /**< may be NULL */
  void *user;
} hearth_generate_params;

typedef struct hearth_perf {
  uint32_t struct_size;
  int32_t n_prompt;         /**< prompt tokens evaluated by the last hearth_generate / step run */
  int32_t n_generated;
  double prompt_ms;
  double generate_ms;
} hearth_perf;

HEARTH_API void hearth_generate_params_init(hearth_generate_params *params);
/** Tokenizes the prompt, evaluates it after what the session holds, then samples and evaluates until n_predict,
 * an end-of-generation token, the callback asks to stop, or the context is full (then HEARTH_ERR_CONTEXT_FULL).
 * With stop_at_eog 0 an end-of-generation token is evaluated like any other and generation goes on. An
 * end-of-generation token it stops at is evaluated before whatever the session is given next. On failure no
 * input stays queued. */
HEARTH_API hearth_status hearth_generate(hearth_session *session, const char *prompt,
                                         const hearth_generate_params *params);
HEARTH_API hearth_status hearth_session_perf(const hearth_session *session, hearth_perf *out);

/* ---- step-wise decoding (one bounded piece of work per call, for game loops) --------------------------- */
/** Queues text (tokenized now, evaluated by later steps). flags as for hearth_tokenize. */
HEARTH_API hearth_status hearth_session_feed(hearth_session *session, const char *text, size_t len, int32_t flags);
/** Does one step: evaluates at most n_batch queued tokens and sets *token to -1, or, with nothing queued, samples
 * one token, evaluates it and sets *token to it. Call hearth_token_is_eog() to know when to stop; a sampled
 * end-of-generation token is evaluated by the next step or feed, so stopping at it costs nothing. */
HEARTH_API hearth_status hearth_session_step(hearth_session *session, hearth_token *token);

/* ---- machine ------------------------------------------------------------------------------------------- */
/** Number of usable CUDA devices (0 without a driver or a device, or in a build without CUDA). */
HEARTH_API int32_t hearth_gpu_count(void);
/** The CPU kernel tier in use: "ref", "avx2" or "avx512" on x86-64, "ref", "neon" or "dotprod" on AArch64.
   HEARTH_FORCE_ISA (one of those names) caps it. */
HEARTH_API const char *hearth_cpu_isa(void);

/** sizeof of a public struct, by its name ("hearth_session_params", ...), or 0 for an unknown name: bindings
 * check their mirrored layouts against the loaded library with it. */
HEARTH_API size_t hearth_sizeof(const char *type_name);

#ifdef __cplusplus
}
#endif

#endif /**< HEARTH_H */
