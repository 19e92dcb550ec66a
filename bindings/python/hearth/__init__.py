"""hearth for Python: ctypes over libhearth, standard library only.

    import hearth
    with hearth.Model("model.gguf") as model, hearth.Session(model, n_ctx=2048) as session:
        for piece in session.generate("Once upon a time", max_tokens=64):
            print(piece, end="", flush=True)

Every failed call raises hearth.HearthError carrying the status and the library's message. The library is found
through $HEARTH_LIBRARY, then a copy shipped inside this package, then the installed prefix pkg-config names, then
the system's search (ctypes.util.find_library), then libhearth.so.0. `python -m hearth -m MODEL -p TEXT` runs a
prompt.
"""
from __future__ import annotations

import codecs
import ctypes
import ctypes.util
import os
import subprocess
import threading
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["HearthError", "Model", "Session", "version", "version_number", "abi_version", "cpu_isa", "gpu_count",
           "set_log_callback", "chat_apply_template", "chat_builtin_templates", "chat_detect_template",
           "SPARSE_AUTO", "SPARSE_DENSE", "SPARSE_PREDICTOR", "SPARSE_EXACT_GATE", "SPARSE_CATS",
           "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG", "SEED_RANDOM", "ABI_VERSION"]

OK, ERR_INVALID_ARGUMENT, ERR_OUT_OF_MEMORY, ERR_IO, ERR_BAD_FORMAT, ERR_UNSUPPORTED, ERR_CONTEXT_FULL, \
    ERR_CANCELLED, ERR_BUFFER_TOO_SMALL, ERR_INTERNAL = range(10)
SPARSE_AUTO, SPARSE_DENSE, SPARSE_PREDICTOR, SPARSE_EXACT_GATE, SPARSE_CATS = range(5)
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = range(4)
ABI_VERSION = 1  # the hearth.h this module mirrors; abi_version() is the loaded library's
SEED_RANDOM = (1 << 64) - 1  # HEARTH_SEED_RANDOM: set_sampler(seed=SEED_RANDOM) draws a fresh seed, as leaving it out does
_SPARSE_NAMES = {"auto": 0, "dense": 1, "predictor": 2, "exact": 3, "exact_gate": 3, "cats": 4}


def _pkg_config_libdir():
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "hearth"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _library_candidates():
    env = os.environ.get("HEARTH_LIBRARY")
    if env:  # asked for by name: only that one
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    found = [os.path.join(here, n) for n in sorted(os.listdir(here)) if n.startswith("libhearth.so")]
    libdir = _pkg_config_libdir()
    if libdir:
        found.append(os.path.join(libdir, "libhearth.so.0"))
    system = ctypes.util.find_library("hearth")
    if system:
        found.append(system)
    return found + ["libhearth.so.0"]


def _load():
    tried = []
    for path in _library_candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("hearth: libhearth could not be loaded; set HEARTH_LIBRARY to its path, install hearth where "
                      "pkg-config finds it (PKG_CONFIG_PATH), or ship it inside this package. Tried: " + "; ".join(tried))


_lib = _load()

_c_status = ctypes.c_int32
_progress_fn = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_float, ctypes.c_void_p)
_token_fn = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_void_p)
_log_fn = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p)


# A chat message: {"role": ..., "content": ...} or (role, content).
_Message = Union[Mapping[str, str], Tuple[str, str]]

_KV_TYPES = {"f16": 2, "f32": 1, "q8_0": 3}  # HEARTH_KV_*


class _ModelParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("vocab_only", ctypes.c_int32), ("progress", _progress_fn),
                ("progress_user", ctypes.c_void_p), ("prefault", ctypes.c_int32), ("gpu_offload", ctypes.c_int32),
                ("vram_budget_bytes", ctypes.c_uint64), ("gpuidx_path", ctypes.c_char_p), ("gpu_n_ctx", ctypes.c_int32),
                ("gpu_n_layers", ctypes.c_int32), ("no_repack", ctypes.c_int32)]


class _SessionParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_ctx", ctypes.c_int32), ("n_batch", ctypes.c_int32),
                ("n_threads", ctypes.c_int32), ("sparse_mode", ctypes.c_int32), ("cats_sparsity", ctypes.c_float),
                ("max_memory_bytes", ctypes.c_uint64), ("type_k", ctypes.c_int32), ("type_v", ctypes.c_int32)]


class _SamplerParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("temperature", ctypes.c_float), ("top_k", ctypes.c_int32),
                ("top_p", ctypes.c_float), ("min_p", ctypes.c_float), ("repeat_penalty", ctypes.c_float),
                ("repeat_last_n", ctypes.c_int32), ("seed", ctypes.c_uint64)]


class _GenerateParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_predict", ctypes.c_int32), ("add_bos", ctypes.c_int32),
                ("stop_at_eog", ctypes.c_int32), ("on_token", _token_fn), ("user", ctypes.c_void_p)]


class _ChatMessage(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


class _SparseStats(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("mode", ctypes.c_int32), ("tokens", ctypes.c_uint64),
                ("active_fraction", ctypes.c_double), ("decode_bytes_per_token", ctypes.c_double),
                ("predictor_ms", ctypes.c_double), ("total_ms", ctypes.c_double), ("gpu_neuron_share", ctypes.c_double),
                ("gpu_bytes_per_token", ctypes.c_double), ("uses_gpu", ctypes.c_int32)]


class _Perf(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_prompt", ctypes.c_int32), ("n_generated", ctypes.c_int32),
                ("prompt_ms", ctypes.c_double), ("generate_ms", ctypes.c_double)]


class _GpuInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("gpu_offload", ctypes.c_int32), ("vram_budget_bytes", ctypes.c_uint64),
                ("vram_weight_bytes", ctypes.c_uint64), ("n_layer_attention", ctypes.c_int32),
                ("output_on_gpu", ctypes.c_int32), ("neuron_fraction", ctypes.c_double), ("firing_share", ctypes.c_double)]


def _sig(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_p = ctypes.c_void_p
_sz = ctypes.c_size_t
_psz = ctypes.POINTER(ctypes.c_size_t)
_sig("hearth_version", ctypes.c_uint32)
_sig("hearth_version_string", ctypes.c_char_p)
_sig("hearth_abi_version", ctypes.c_uint32)
_sig("hearth_status_string", ctypes.c_char_p, _c_status)
_sig("hearth_last_error", ctypes.c_char_p)
_sig("hearth_sizeof", _sz, ctypes.c_char_p)
_sig("hearth_set_log_callback", None, _log_fn, _p, ctypes.c_int32)
_sig("hearth_cpu_isa", ctypes.c_char_p)
_sig("hearth_gpu_count", ctypes.c_int32)
_sig("hearth_model_params_init", None, ctypes.POINTER(_ModelParams))
_sig("hearth_model_load", _c_status, ctypes.c_char_p, ctypes.POINTER(_ModelParams), ctypes.POINTER(_p))
_sig("hearth_model_free", None, _p)
for _n in ("n_vocab", "n_ctx_train", "n_embd", "n_layer"):
    _sig("hearth_model_" + _n, ctypes.c_int32, _p)
_sig("hearth_model_n_params", ctypes.c_uint64, _p)
_sig("hearth_model_size_bytes", ctypes.c_uint64, _p)
_sig("hearth_model_repacked_bytes", ctypes.c_uint64, _p)
_sig("hearth_model_bos", ctypes.c_int32, _p)
_sig("hearth_model_eos", ctypes.c_int32, _p)
_sig("hearth_token_is_eog", ctypes.c_int32, _p, ctypes.c_int32)
_sig("hearth_model_desc", _c_status, _p, ctypes.c_char_p, _sz, _psz)
_sig("hearth_model_meta", _c_status, _p, ctypes.c_char_p, ctypes.c_char_p, _sz, _psz)
_sig("hearth_model_gpu_info", _c_status, _p, ctypes.POINTER(_GpuInfo))
_sig("hearth_tokenize", _c_status, _p, ctypes.c_char_p, _sz, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), _sz, _psz)
_sig("hearth_token_to_piece", _c_status, _p, ctypes.c_int32, ctypes.c_int32, ctypes.c_char_p, _sz, _psz)
_sig("hearth_detokenize", _c_status, _p, ctypes.POINTER(ctypes.c_int32), _sz, ctypes.c_int32, ctypes.c_char_p, _sz, _psz)
_sig("hearth_chat_apply_template", _c_status, _p, ctypes.c_char_p, ctypes.POINTER(_ChatMessage), _sz, ctypes.c_int32,
     ctypes.c_char_p, _sz, _psz)
_sig("hearth_chat_builtin_templates", ctypes.c_char_p)
_sig("hearth_chat_detect_template", ctypes.c_char_p, ctypes.c_char_p)
_sig("hearth_session_params_init", None, ctypes.POINTER(_SessionParams))
_sig("hearth_session_create", _c_status, _p, ctypes.POINTER(_SessionParams), ctypes.POINTER(_p))
_sig("hearth_session_free", None, _p)
_sig("hearth_session_reset", _c_status, _p)
_sig("hearth_session_truncate", _c_status, _p, ctypes.c_int32)
_sig("hearth_session_state_size", _c_status, _p, _psz)
_sig("hearth_session_state_save", _c_status, _p, ctypes.c_void_p, _sz, _psz)
_sig("hearth_session_state_load", _c_status, _p, ctypes.c_char_p, _sz)
_sig("hearth_session_state_save_file", _c_status, _p, ctypes.c_char_p)
_sig("hearth_session_state_load_file", _c_status, _p, ctypes.c_char_p)
_sig("hearth_session_n_past", ctypes.c_int32, _p)
_sig("hearth_session_n_ctx", ctypes.c_int32, _p)
_sig("hearth_session_mode", ctypes.c_char_p, _p)
_sig("hearth_session_last_error", ctypes.c_char_p, _p)
_sig("hearth_session_set_threshold", _c_status, _p, ctypes.c_int32, ctypes.c_float)
_sig("hearth_session_sparse_stats", _c_status, _p, ctypes.POINTER(_SparseStats))
_sig("hearth_session_reset_stats", _c_status, _p)
_sig("hearth_session_cancel", None, _p)
_sig("hearth_session_eval", _c_status, _p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_int32)
_sig("hearth_session_logits", ctypes.POINTER(ctypes.c_float), _p, ctypes.c_int32)
_sig("hearth_sampler_params_init", None, ctypes.POINTER(_SamplerParams))
_sig("hearth_session_set_sampler", _c_status, _p, ctypes.POINTER(_SamplerParams))
_sig("hearth_session_sample", _c_status, _p, ctypes.POINTER(ctypes.c_int32))
_sig("hearth_session_seed", ctypes.c_uint64, _p)
_sig("hearth_generate_params_init", None, ctypes.POINTER(_GenerateParams))
_sig("hearth_generate", _c_status, _p, ctypes.c_char_p, ctypes.POINTER(_GenerateParams))
_sig("hearth_session_perf", _c_status, _p, ctypes.POINTER(_Perf))
_sig("hearth_session_feed", _c_status, _p, ctypes.c_char_p, _sz, ctypes.c_int32)
_sig("hearth_session_step", _c_status, _p, ctypes.POINTER(ctypes.c_int32))

# The mirrored structs must have the loaded library's layout.
for _name, _cls in (("hearth_model_params", _ModelParams), ("hearth_session_params", _SessionParams),
                    ("hearth_sampler_params", _SamplerParams), ("hearth_generate_params", _GenerateParams),
                    ("hearth_sparse_stats", _SparseStats), ("hearth_perf", _Perf), ("hearth_gpu_info", _GpuInfo)):
    if _lib.hearth_sizeof(_name.encode()) != ctypes.sizeof(_cls):
        raise ImportError("hearth: %s is %d bytes in the library but %d here: binding and library do not match"
                          % (_name, _lib.hearth_sizeof(_name.encode()), ctypes.sizeof(_cls)))


class HearthError(Exception):
    """A failed hearth call: .status is the HEARTH_ERR_* code, .message the library's explanation."""

    def __init__(self, status, message):
        self.status = status
        self.message = message
        super().__init__("%s: %s" % (_lib.hearth_status_string(status).decode(), message))


def _check(status):
    if status != OK:
        raise HearthError(status, (_lib.hearth_last_error() or b"").decode("utf-8", "replace"))


def _text(fn, *args):
    """Calls an snprintf-style function, growing the buffer until the text fits."""
    cap = 256
    while True:
        buf = ctypes.create_string_buffer(cap)
        n = ctypes.c_size_t()
        st = fn(*args, buf, cap, ctypes.byref(n))
        if st == ERR_BUFFER_TOO_SMALL or (st == OK and n.value >= cap):
            cap = n.value + 1
            continue
        _check(st)
        return buf.raw[:n.value]


def version() -> str:
    return _lib.hearth_version_string().decode()


def version_number() -> int:
    """HEARTH_VERSION_NUMBER of the loaded library: major * 10000 + minor * 100 + patch."""
    return _lib.hearth_version()


def abi_version() -> int:
    return _lib.hearth_abi_version()


def cpu_isa() -> str:
    return _lib.hearth_cpu_isa().decode()


def gpu_count() -> int:
    return _lib.hearth_gpu_count()


_log_keepalive = None


def set_log_callback(fn: Optional[Callable[[int, str], None]], max_level: int = LOG_WARN) -> None:
    """fn(level, message) receives the library's log lines (0 error .. 3 debug); None restores the default."""
    global _log_keepalive
    if fn is None:
        _log_keepalive = None
        _lib.hearth_set_log_callback(_log_fn(), None, max_level)
        return

    def tramp(level, msg, user):
        try:
            fn(level, msg.decode("utf-8", "replace"))
        except Exception:  # an exception must not cross into C
            pass
    _log_keepalive = _log_fn(tramp)
    _lib.hearth_set_log_callback(_log_keepalive, None, max_level)


class _Owned:
    """A C object owned by Python: freed by close(), the with-statement, or (as a backstop) garbage collection."""
    _free = None
    _what = "object"
    _h = None

    def _handle(self):
        if not self._h:
            raise ValueError("the %s is closed" % self._what)
        return self._h

    def close(self) -> None:
        if self._h:
            type(self)._free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Model(_Owned):
    """A loaded model: immutable, shareable by any number of threads and sessions."""
    _free = staticmethod(_lib.hearth_model_free)
    _what = "model"

    GPU_AUTO, GPU_NONE, GPU_HYBRID, GPU_LAYERS, GPU_ATTENTION = 0, 1, 2, 3, 4

    def __init__(self, path: Union[str, os.PathLike], vocab_only: bool = False, prefault: bool = False, gpu_offload: int = 0,
                 vram_budget_bytes: int = 0, gpuidx_path: Optional[Union[str, os.PathLike]] = None,
                 progress: Optional[Callable[[float], Optional[bool]]] = None, gpu_n_ctx: int = 0,
                 gpu_n_layers: int = 0, no_repack: bool = False) -> None:
        """progress(fraction) is called as the load proceeds; returning False aborts it (HearthError with
        ERR_CANCELLED), as every callback of the bindings stops on False. An exception raised by it aborts the load
        and is re-raised here."""
        p = _ModelParams()
        _lib.hearth_model_params_init(ctypes.byref(p))
        p.vocab_only = int(vocab_only)
        p.prefault = int(prefault)
        p.gpu_offload = int(gpu_offload)
        p.vram_budget_bytes = int(vram_budget_bytes)
        p.gpu_n_ctx = int(gpu_n_ctx)  # the context the GPU layers' KV cache is budgeted for (0: min(training, 4096))
        p.gpu_n_layers = int(gpu_n_layers)  # GPU_LAYERS: at most this many layers, as llama.cpp's -ngl (0: no cap)
        p.no_repack = int(no_repack)  # keep every weight as the file has it (no row groups for decode)
        p.gpuidx_path = os.fsencode(gpuidx_path) if gpuidx_path else None
        error = []
        if progress is not None:
            def tramp(fraction, user):
                try:
                    return 0 if progress(fraction) is False else 1
                except BaseException as e:  # never let it cross into C
                    error.append(e)
                    return 0
            p.progress = _progress_fn(tramp)  # p holds the only reference while the load runs
        h = ctypes.c_void_p()
        st = _lib.hearth_model_load(os.fsencode(path), ctypes.byref(p), ctypes.byref(h))
        if error:
            raise error[0]
        _check(st)
        self._h = h

    @property
    def n_vocab(self) -> int:
        return _lib.hearth_model_n_vocab(self._handle())

    @property
    def n_ctx_train(self) -> int:
        return _lib.hearth_model_n_ctx_train(self._handle())

    @property
    def n_embd(self) -> int:
        return _lib.hearth_model_n_embd(self._handle())

    @property
    def n_layer(self) -> int:
        return _lib.hearth_model_n_layer(self._handle())

    @property
    def n_params(self) -> int:
        return _lib.hearth_model_n_params(self._handle())

    @property
    def size_bytes(self) -> int:  # bytes of weights
        return _lib.hearth_model_size_bytes(self._handle())

    @property
    def repacked_bytes(self) -> int:  # bytes of weights repacked into row groups at load (0 with no_repack)
        return _lib.hearth_model_repacked_bytes(self._handle())

    @property
    def bos(self) -> int:
        return _lib.hearth_model_bos(self._handle())

    @property
    def eos(self) -> int:
        return _lib.hearth_model_eos(self._handle())


    @property
    def description(self) -> str:
        return _text(_lib.hearth_model_desc, self._handle()).decode("utf-8", "replace")

    def meta(self, key: str) -> str:
        """A metadata value as text; KeyError if the file has no such key."""
        try:
            return _text(_lib.hearth_model_meta, self._handle(), key.encode()).decode("utf-8", "replace")
        except HearthError as e:
            if e.status == ERR_INVALID_ARGUMENT:
                raise KeyError(key) from None
            raise

    def gpu_info(self) -> Dict[str, Union[int, float]]:
        """What of the model went to the GPU at load (gpu_offload is GPU_NONE when it runs on the CPU only)."""
        g = _GpuInfo()
        g.struct_size = ctypes.sizeof(g)
        _check(_lib.hearth_model_gpu_info(self._handle(), ctypes.byref(g)))
        return {name: getattr(g, name) for name, _ in _GpuInfo._fields_ if name != "struct_size"}

    def is_eog(self, token: int) -> bool:
        return bool(_lib.hearth_token_is_eog(self._handle(), token))

    def tokenize(self, text: Union[str, bytes], add_bos: bool = True, special: bool = False) -> List[int]:
        data = text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8")
        flags = (1 if add_bos else 0) | (2 if special else 0)
        cap = len(data) + 8
        while True:
            out = (ctypes.c_int32 * cap)()
            n = ctypes.c_size_t()
            st = _lib.hearth_tokenize(self._handle(), bytes(data), len(data), flags, out, cap, ctypes.byref(n))
            if st == ERR_BUFFER_TOO_SMALL:
                cap = n.value
                continue
            _check(st)
            return list(out[:n.value])

    def token_to_piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token (a token may hold part of a UTF-8 character)."""
        return _text(_lib.hearth_token_to_piece, self._handle(), token, 1 if special else 0)

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> str:
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        return _text(_lib.hearth_detokenize, self._handle(), arr, len(tokens), 1 if special else 0).decode("utf-8", "replace")

    def chat_apply_template(self, messages: Sequence[_Message], template: Optional[str] = None,
                            add_assistant: bool = True) -> str:
        """Formats a conversation with the model's chat template (or the named / given one). Tokenize the result
        with add_bos=True, special=True."""
        return _chat(self._handle(), messages, template, add_assistant)


def _chat(model_handle, messages, template, add_assistant):
    msgs = (_ChatMessage * max(1, len(messages)))()
    keep = []
    for i, m in enumerate(messages):
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
        keep.append((role.encode("utf-8"), content.encode("utf-8")))
        msgs[i].role, msgs[i].content = keep[-1]
    tmpl = template.encode("utf-8") if template is not None else None
    return _text(_lib.hearth_chat_apply_template, model_handle, tmpl, msgs, len(messages),
                 1 if add_assistant else 0).decode("utf-8")


def chat_apply_template(template: str, messages: Sequence[_Message], add_assistant: bool = True) -> str:
    """Formats messages ([{"role": ..., "content": ...}] or (role, content) pairs) with a built-in template name
    or a template text hearth recognises; Model.chat_apply_template uses the model's own template."""
    return _chat(None, messages, template, add_assistant)


def chat_builtin_templates() -> List[str]:
    return _lib.hearth_chat_builtin_templates().decode().split(", ")


def chat_detect_template(template: str) -> Optional[str]:
    """The built-in format a template text is recognised as, or None."""
    r = _lib.hearth_chat_detect_template(template.encode("utf-8"))
    return r.decode() if r else None


class Session(_Owned):
    """A conversation's state (KV cache, sampler) on a model. Use from one thread at a time; cancel() from any."""
    _free = staticmethod(_lib.hearth_session_free)
    _what = "session"

    def __init__(self, model: Model, n_ctx: int = 0, n_batch: int = 0, n_threads: int = 0, sparse_mode: Union[str, int] = "auto",
                 cats_sparsity: Optional[float] = None, max_memory_bytes: int = 0, type_k: str = "f16",
                 type_v: str = "f16") -> None:
        p = _SessionParams()
        _lib.hearth_session_params_init(ctypes.byref(p))
        p.n_ctx, p.n_threads = n_ctx, n_threads
        if n_batch:
            p.n_batch = n_batch
        p.sparse_mode = _SPARSE_NAMES[sparse_mode] if isinstance(sparse_mode, str) else int(sparse_mode)
        if cats_sparsity is not None:
            p.cats_sparsity = cats_sparsity
        p.max_memory_bytes = max_memory_bytes
        p.type_k, p.type_v = _KV_TYPES[type_k], _KV_TYPES[type_v]  # the KV cache's element types
        h = ctypes.c_void_p()
        _check(_lib.hearth_session_create(model._handle(), ctypes.byref(p), ctypes.byref(h)))
        self._h = h
        self.model = model  # the model must outlive the session

    @property
    def n_past(self) -> int:
        return _lib.hearth_session_n_past(self._handle())

    @property
    def n_ctx(self) -> int:
        return _lib.hearth_session_n_ctx(self._handle())

    @property
    def mode(self) -> str:
        return _lib.hearth_session_mode(self._handle()).decode()

    @property
    def last_error(self) -> str:
        """The message of this session's last failed call ("" if none), as its HearthError carried."""
        return (_lib.hearth_session_last_error(self._handle()) or b"").decode("utf-8", "replace")

    # The seed the sampler was last set with: the one given, or the one drawn when none was (the default); pass it
    # to set_sampler(seed=...) to repeat a run.
    @property
    def seed(self) -> int:
        return _lib.hearth_session_seed(self._handle())


    def reset(self) -> None:
        _check(_lib.hearth_session_reset(self._handle()))

    def truncate(self, n_keep: int) -> None:
        """Keeps the first n_keep evaluated tokens and forgets the rest of the context (and anything queued)."""
        _check(_lib.hearth_session_truncate(self._handle(), n_keep))

    def save_state(self) -> bytes:
        """The session's state (context, last logits, queued input, sampler generator) as bytes for load_state."""
        n = ctypes.c_size_t()
        _check(_lib.hearth_session_state_size(self._handle(), ctypes.byref(n)))
        buf = ctypes.create_string_buffer(max(n.value, 1))
        _check(_lib.hearth_session_state_save(self._handle(), buf, n.value, ctypes.byref(n)))
        return buf.raw[:n.value]

    def load_state(self, state: bytes) -> None:
        """Restores a state from save_state; a refused one (HearthError) leaves the session as it was."""
        _check(_lib.hearth_session_state_load(self._handle(), bytes(state), len(state)))

    def save_state_file(self, path: str) -> None:
        _check(_lib.hearth_session_state_save_file(self._handle(), os.fsencode(path)))

    def load_state_file(self, path: str) -> None:
        _check(_lib.hearth_session_state_load_file(self._handle(), os.fsencode(path)))

    def cancel(self) -> None:
        """Stops the call running on this session (or the next one started), from any thread."""
        h = self._h
        if h:
            _lib.hearth_session_cancel(h)

    def set_sampler(self, temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
                    min_p: Optional[float] = None, repeat_penalty: Optional[float] = None,
                    repeat_last_n: Optional[int] = None, seed: Optional[int] = None) -> None:
        """Sets the sampler and re-seeds it. An argument left as None keeps the library's default
        (hearth_sampler_params_init), so this binding samples as C does; without a seed a fresh one is drawn
        (see the seed property)."""
        p = _SamplerParams()
        _lib.hearth_sampler_params_init(ctypes.byref(p))
        given = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, repeat_penalty=repeat_penalty,
                     repeat_last_n=repeat_last_n, seed=seed)
        for name, value in given.items():
            if value is not None:
                setattr(p, name, value)
        _check(_lib.hearth_session_set_sampler(self._handle(), ctypes.byref(p)))

    def set_threshold(self, layer: int, threshold: float) -> None:
        """Overrides the activation threshold of one layer (-1: every layer) for the predictor and CATS modes."""
        _check(_lib.hearth_session_set_threshold(self._handle(), layer, threshold))

    def eval(self, tokens: Sequence[int], all_logits: bool = False) -> None:
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        _check(_lib.hearth_session_eval(self._handle(), arr, len(tokens), int(all_logits)))

    def logits(self, i: int = -1) -> List[float]:
        """The logits of token i of the last eval, as a list of floats."""
        ptr = _lib.hearth_session_logits(self._handle(), i)
        if not ptr:
            raise IndexError("no logits kept for token %d" % i)
        return ptr[:self.model.n_vocab]

    def sample(self) -> int:
        t = ctypes.c_int32()
        _check(_lib.hearth_session_sample(self._handle(), ctypes.byref(t)))
        return t.value

    def feed(self, text: str, add_bos: bool = True, special: bool = False) -> None:
        """Queues text for the next steps (tokenized now): add_bos puts the BOS token first, special parses
        control tokens such as a chat template's marks."""
        data = text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8")
        _check(_lib.hearth_session_feed(self._handle(), bytes(data), len(data), (1 if add_bos else 0) | (2 if special else 0)))

    def step(self) -> Optional[int]:
        """One bounded piece of work: evaluates a chunk of queued input and returns None, or, with nothing queued,
        samples a token, evaluates it and returns it (check model.is_eog to stop)."""
        t = ctypes.c_int32()
        _check(_lib.hearth_session_step(self._handle(), ctypes.byref(t)))
        return None if t.value < 0 else t.value

    def generate(self, prompt: str, max_tokens: int = 128, add_bos: bool = True, special: bool = False,
                 stop_at_eog: bool = True) -> Iterator[str]:
        """Yields the continuation of prompt piece by piece (always whole UTF-8 characters), through the step API.
        With stop_at_eog False an end-of-generation token is one more token and generation goes on."""
        self.feed(prompt, add_bos, special)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        produced = 0
        t = ctypes.c_int32()
        while produced < max_tokens:
            _check(_lib.hearth_session_step(self._handle(), ctypes.byref(t)))
            if t.value < 0:
                continue  # a prompt chunk was evaluated
            produced += 1
            if stop_at_eog and self.model.is_eog(t.value):
                break
            piece = decoder.decode(self.model.token_to_piece(t.value))
            if piece:
                yield piece
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def generate_text(self, prompt: str, max_tokens: int = 128, add_bos: bool = True,
                      on_piece: Optional[Callable[[str], Optional[bool]]] = None, stop_at_eog: bool = True) -> str:
        """Runs hearth_generate; on_piece(str) sees each piece as it streams and returns False to stop (None or
        anything else goes on: the same convention as the other bindings and the load progress). Returns the whole
        text. An exception raised by on_piece stops the generation and is re-raised here."""
        pieces, error = [], []

        def tramp(token, piece, n, user):
            try:
                s = ctypes.string_at(piece, n).decode("utf-8", "replace")
                pieces.append(s)
                return 1 if on_piece is not None and on_piece(s) is False else 0
            except BaseException as e:  # never let it cross into C
                error.append(e)
                return 1
        cb = _token_fn(tramp)
        p = _GenerateParams()
        _lib.hearth_generate_params_init(ctypes.byref(p))
        p.n_predict, p.add_bos, p.stop_at_eog, p.on_token = max_tokens, int(add_bos), int(stop_at_eog), cb
        st = _lib.hearth_generate(self._handle(), prompt.encode("utf-8"), ctypes.byref(p))
        if error:
            raise error[0]
        _check(st)
        return "".join(pieces)

    def sparse_stats(self) -> Dict[str, Union[int, float, bool]]:
        s = _SparseStats()
        s.struct_size = ctypes.sizeof(s)
        _check(_lib.hearth_session_sparse_stats(self._handle(), ctypes.byref(s)))
        return {"mode": s.mode, "tokens": s.tokens, "active_fraction": s.active_fraction,
                "decode_bytes_per_token": s.decode_bytes_per_token, "predictor_ms": s.predictor_ms, "total_ms": s.total_ms,
                "gpu_neuron_share": s.gpu_neuron_share, "gpu_bytes_per_token": s.gpu_bytes_per_token,
                "uses_gpu": bool(s.uses_gpu)}

    def reset_stats(self) -> None:
        """Zeroes the counters sparse_stats() reports."""
        _check(_lib.hearth_session_reset_stats(self._handle()))

    def perf(self) -> Dict[str, Union[int, float]]:
        s = _Perf()
        s.struct_size = ctypes.sizeof(s)
        _check(_lib.hearth_session_perf(self._handle(), ctypes.byref(s)))
        return {"n_prompt": s.n_prompt, "n_generated": s.n_generated, "prompt_ms": s.prompt_ms, "generate_ms": s.generate_ms}
