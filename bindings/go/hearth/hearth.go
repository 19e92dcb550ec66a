// Package hearth is the Go binding of libhearth (cgo, found through pkg-config).
//
//	m, err := hearth.Load("model.gguf")
//	defer m.Close()
//	s, err := m.NewSession(hearth.SessionOptions{NCtx: 2048})
//	defer s.Close()
//	err = s.Generate("Once upon a time", 64, func(piece string) bool { fmt.Print(piece); return true })
//
// A Model is immutable and safe for concurrent use by many goroutines. A Session must be used by one goroutine at
// a time; Cancel may be called from any goroutine. Close frees the C objects; a finalizer is only a backstop.
package hearth

/*
#cgo pkg-config: hearth
#include <stdlib.h>
#include <hearth.h>

extern int32_t hearthGoOnToken(hearth_token token, char *piece, size_t len, void *user);
extern int32_t hearthGoOnProgress(float progress, void *user);
extern void hearthGoOnLog(int32_t level, char *msg, void *user);

static void hearth_go_set_log(int on, int32_t max_level) {
	hearth_set_log_callback(on ? (hearth_log_fn)hearthGoOnLog : NULL, NULL, max_level);
}

static hearth_status hearth_go_generate(hearth_session *s, const char *prompt, const hearth_generate_params *given,
                                        uintptr_t handle) {
	hearth_generate_params p = *given;
	p.on_token = (hearth_token_fn)hearthGoOnToken;
	p.user = (void *)handle;
	return hearth_generate(s, prompt, &p);
}

static hearth_status hearth_go_load(const char *path, hearth_model_params *p, uintptr_t progress, hearth_model **out) {
	if (progress) {
		p->progress = (hearth_progress_fn)hearthGoOnProgress;
		p->progress_user = (void *)progress;
	}
	return hearth_model_load(path, p, out);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"
)

// Status codes (HEARTH_ERR_*).
const (
	ErrInvalidArgument = 1
	ErrOutOfMemory     = 2
	ErrIO              = 3
	ErrBadFormat       = 4
	ErrUnsupported     = 5
	ErrContextFull     = 6
	ErrCancelled       = 7
	ErrBufferTooSmall  = 8
	ErrInternal        = 9
)

// Error is a failed call: the status and the library's message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", C.GoString(C.hearth_status_string(C.hearth_status(e.Status))), e.Message)
}

// IsCancelled reports whether err is hearth's cancellation.
func IsCancelled(err error) bool {
	var he *Error
	return errors.As(err, &he) && he.Status == ErrCancelled
}

// pinThread keeps the goroutine on its OS thread until the returned function runs: hearth_last_error() is
// thread-local, so a failed call and the read of its message must happen on one thread (between two cgo calls
// the scheduler may move a goroutine). Use as `defer pinThread()()` in every function that calls check.
func pinThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

func check(st C.hearth_status) error {
	if st == 0 {
		return nil
	}
	return &Error{Status: int(st), Message: C.GoString(C.hearth_last_error())}
}

var layoutOnce sync.Once
var layoutErr error

func checkLayout() error {
	layoutOnce.Do(func() {
		sizes := map[string]uintptr{
			"hearth_model_params":    unsafe.Sizeof(C.hearth_model_params{}),
			"hearth_session_params":  unsafe.Sizeof(C.hearth_session_params{}),
			"hearth_sampler_params":  unsafe.Sizeof(C.hearth_sampler_params{}),
			"hearth_generate_params": unsafe.Sizeof(C.hearth_generate_params{}),
			"hearth_sparse_stats":    unsafe.Sizeof(C.hearth_sparse_stats{}),
			"hearth_perf":            unsafe.Sizeof(C.hearth_perf{}),
			"hearth_gpu_info":        unsafe.Sizeof(C.hearth_gpu_info{}),
		}
		for name, size := range sizes {
			cname := C.CString(name)
			got := uintptr(C.hearth_sizeof(cname))
			C.free(unsafe.Pointer(cname))
			if got != size {
				layoutErr = fmt.Errorf("hearth: %s is %d bytes in libhearth but %d in this build", name, got, size)
			}
		}
	})
	return layoutErr
}

// Version is the loaded library's version string.
func Version() string { return C.GoString(C.hearth_version_string()) }

// VersionNumber is the loaded library's HEARTH_VERSION_NUMBER: major * 10000 + minor * 100 + patch.
func VersionNumber() int { return int(C.hearth_version()) }

// HeaderABIVersion is the hearth.h this package is built with; ABIVersion is the loaded library's.
const HeaderABIVersion = int(C.HEARTH_ABI_VERSION)

// ABIVersion is the loaded library's ABI version.
func ABIVersion() int { return int(C.hearth_abi_version()) }

// Log levels (HEARTH_LOG_*).
const (
	LogError = 0
	LogWarn  = 1
	LogInfo  = 2
	LogDebug = 3
)

var logMu sync.RWMutex
var logFn func(level int, msg string)

//export hearthGoOnLog
func hearthGoOnLog(level C.int32_t, msg *C.char, user unsafe.Pointer) {
	defer func() { _ = recover() }() // called from library threads: a panic has no Go caller to go to
	logMu.RLock()
	f := logFn
	logMu.RUnlock()
	if f != nil {
		f(int(level), C.GoString(msg))
	}
}

// SetLogCallback sends the library's messages at maxLevel or below to fn, from any library thread; nil silences
// the library (its default). Global to the process: set it before other use.
func SetLogCallback(fn func(level int, msg string), maxLevel int) {
	logMu.Lock()
	logFn = fn
	logMu.Unlock()
	on := C.int(0)
	if fn != nil {
		on = 1
	}
	C.hearth_go_set_log(on, C.int32_t(maxLevel))
}

// CPUISA is the CPU kernel tier in use.
func CPUISA() string { return C.GoString(C.hearth_cpu_isa()) }

// GPUCount is the number of usable CUDA devices.
func GPUCount() int { return int(C.hearth_gpu_count()) }

// Model is a loaded model file.
type Model struct {
	mu  sync.RWMutex
	ptr *C.hearth_model
}

// LoadOptions are the load's settings; zero values take the library's defaults.
type LoadOptions struct {
	VocabOnly       bool   // only the tokenizer (no weights needed in the file)
	Prefault        bool   // read every weight once at load so the first tokens do not page-fault
	GPUOffload      int    // a GPU* mode; 0 is GPUAuto, the default
	VRAMBudgetBytes uint64 // VRAM for weights and one session's KV cache; 0: free memory minus a margin
	GPUIdxPath      string // a PowerInfer .gpuidx giving the hot neurons; "": the placement solver decides
	GPUNCtx         int    // the context the GPU layers' KV cache is budgeted for; 0: min(training, 4096)
	GPULayers       int    // GPULayers mode: at most this many layers, as llama.cpp's -ngl; 0: as the budget holds
	NoRepack        bool   // keep every weight as the file has it: no row groups for decode (less load time, slower tokens)
	// Progress is called with the fraction loaded and returns false to abort the load (an *Error with
	// ErrCancelled), as every callback of the bindings does. A panic in it aborts the load and is re-raised.
	Progress func(fraction float32) bool
}

// Load maps a GGUF model file with the default options.
func Load(path string) (*Model, error) { return LoadWith(path, LoadOptions{}) }

type progress struct {
	fn    func(float32) bool
	panic interface{}
}

//export hearthGoOnProgress
func hearthGoOnProgress(fraction C.float, user unsafe.Pointer) (ret C.int32_t) {
	pr := cgo.Handle(uintptr(user)).Value().(*progress)
	defer func() { // a panic must not cross into C: abort, and re-panic in LoadWith
		if r := recover(); r != nil {
			pr.panic = r
			ret = 0
		}
	}()
	if pr.fn(float32(fraction)) {
		return 1
	}
	return 0
}

// LoadWith maps a GGUF model file.
func LoadWith(path string, o LoadOptions) (*Model, error) {
	defer pinThread()()
	if err := checkLayout(); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var p C.hearth_model_params
	C.hearth_model_params_init(&p)
	if o.VocabOnly {
		p.vocab_only = 1
	}
	if o.Prefault {
		p.prefault = 1
	}
	p.gpu_offload = C.int32_t(o.GPUOffload)
	p.vram_budget_bytes = C.uint64_t(o.VRAMBudgetBytes)
	p.gpu_n_ctx = C.int32_t(o.GPUNCtx)
	p.gpu_n_layers = C.int32_t(o.GPULayers)
	if o.NoRepack {
		p.no_repack = 1
	}
	if o.GPUIdxPath != "" {
		g := C.CString(o.GPUIdxPath)
		defer C.free(unsafe.Pointer(g))
		p.gpuidx_path = g
	}
	var pr *progress
	var handle C.uintptr_t
	if o.Progress != nil {
		pr = &progress{fn: o.Progress}
		h := cgo.NewHandle(pr)
		defer h.Delete()
		handle = C.uintptr_t(h)
	}
	var m *C.hearth_model
	st := C.hearth_go_load(cpath, &p, handle, &m)
	if pr != nil && pr.panic != nil {
		panic(pr.panic)
	}
	if err := check(st); err != nil {
		return nil, err
	}
	model := &Model{ptr: m}
	runtime.SetFinalizer(model, (*Model).Close)
	return model, nil
}

// Close frees the model; sessions created from it must be closed first. Safe to call twice.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr != nil {
		C.hearth_model_free(m.ptr)
		m.ptr = nil
	}
	return nil
}

func (m *Model) raw() (*C.hearth_model, error) {
	if m == nil || m.ptr == nil {
		return nil, &Error{Status: ErrInvalidArgument, Message: "the model is closed"}
	}
	return m.ptr, nil
}

// NVocab is the vocabulary size.
func (m *Model) NVocab() int { p, _ := m.raw(); return int(C.hearth_model_n_vocab(p)) }

// NLayer is the number of layers.
func (m *Model) NLayer() int { p, _ := m.raw(); return int(C.hearth_model_n_layer(p)) }

// BOS is the begin-of-sequence token.
func (m *Model) BOS() int32 { p, _ := m.raw(); return int32(C.hearth_model_bos(p)) }

// EOS is the end-of-sequence token.
func (m *Model) EOS() int32 { p, _ := m.raw(); return int32(C.hearth_model_eos(p)) }

// NCtxTrain is the context length the model was trained with.
func (m *Model) NCtxTrain() int { p, _ := m.raw(); return int(C.hearth_model_n_ctx_train(p)) }

// NEmbd is the embedding width.
func (m *Model) NEmbd() int { p, _ := m.raw(); return int(C.hearth_model_n_embd(p)) }

// NParams is the number of weights.
func (m *Model) NParams() uint64 { p, _ := m.raw(); return uint64(C.hearth_model_n_params(p)) }

// SizeBytes is the bytes of weights.
func (m *Model) SizeBytes() uint64 { p, _ := m.raw(); return uint64(C.hearth_model_size_bytes(p)) }

// RepackedBytes is the bytes of weights repacked into row groups at load for the CPU's decode (0 with NoRepack).
func (m *Model) RepackedBytes() uint64 { p, _ := m.raw(); return uint64(C.hearth_model_repacked_bytes(p)) }

// Desc is a one-line description ("llama 1.1B Q4_0, 22 layers, ...").
func (m *Model) Desc() (string, error) {
	p, err := m.raw()
	if err != nil {
		return "", err
	}
	b, err := text(func(buf *C.char, cap C.size_t, n *C.size_t) C.hearth_status {
		return C.hearth_model_desc(p, buf, cap, n)
	})
	return string(b), err
}

// IsEOG reports whether token ends generation.
func (m *Model) IsEOG(token int32) bool {
	p, _ := m.raw()
	return C.hearth_token_is_eog(p, C.hearth_token(token)) != 0
}

// Meta returns a metadata value as text, or ok=false when the key is absent.
// GPU offload modes (hearth_model_params.gpu_offload), as GPUInfo.Offload reports them.
const (
	GPUAuto      = 0
	GPUNone      = 1
	GPUHybrid    = 2
	GPULayers    = 3
	GPUAttention = 4
)

// GPUInfo says what of the model went to the GPU at load.
type GPUInfo struct {
	Offload         int     // GPUHybrid or GPULayers in effect, GPUNone when the model runs on the CPU only
	VRAMBudgetBytes uint64  // the budget the placement used
	VRAMWeightBytes uint64  // weights placed in VRAM
	LayersAttention int     // layers whose attention, norms and predictor are on the GPU
	OutputOnGPU     bool    // the output matrix is on the GPU
	NeuronFraction  float64 // FFN neurons resident on the GPU / all
	FiringShare     float64 // share of neuron firings the GPU serves, by the frequencies placement used
}

// GPUInfo reports the model's GPU placement.
func (m *Model) GPUInfo() (GPUInfo, error) {
	defer pinThread()()
	p, err := m.raw()
	if err != nil {
		return GPUInfo{}, err
	}
	var g C.hearth_gpu_info
	g.struct_size = C.uint32_t(unsafe.Sizeof(g))
	if err := check(C.hearth_model_gpu_info(p, &g)); err != nil {
		return GPUInfo{}, err
	}
	return GPUInfo{int(g.gpu_offload), uint64(g.vram_budget_bytes), uint64(g.vram_weight_bytes), int(g.n_layer_attention),
		g.output_on_gpu != 0, float64(g.neuron_fraction), float64(g.firing_share)}, nil
}

func (m *Model) Meta(key string) (value string, ok bool, err error) {
	p, err := m.raw()
	if err != nil {
		return "", false, err
	}
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	b, err := text(func(buf *C.char, cap C.size_t, n *C.size_t) C.hearth_status {
		return C.hearth_model_meta(p, ckey, buf, cap, n)
	})
	var he *Error
	if errors.As(err, &he) && he.Status == ErrInvalidArgument {
		return "", false, nil
	}
	return string(b), err == nil, err
}

func text(f func(*C.char, C.size_t, *C.size_t) C.hearth_status) ([]byte, error) {
	defer pinThread()()
	capacity := 256
	for {
		buf := C.malloc(C.size_t(capacity))
		var n C.size_t
		st := f((*C.char)(buf), C.size_t(capacity), &n)
		if st == ErrBufferTooSmall || (st == 0 && int(n) >= capacity) {
			C.free(buf)
			capacity = int(n) + 1
			continue
		}
		out := C.GoBytes(buf, C.int(n))
		C.free(buf)
		return out, check(st)
	}
}

// Tokenize returns the token ids of UTF-8 text.
func (m *Model) Tokenize(text []byte, addBOS bool) ([]int32, error) {
	return m.TokenizeWith(text, addBOS, false)
}

func tokenizeFlags(addBOS, special bool) C.int32_t {
	flags := C.int32_t(0)
	if addBOS {
		flags |= 1 // HEARTH_TOKENIZE_ADD_BOS
	}
	if special {
		flags |= 2 // HEARTH_TOKENIZE_PARSE_SPECIAL
	}
	return flags
}

// TokenizeWith is Tokenize; special parses control tokens (a chat template's marks) as tokens.
func (m *Model) TokenizeWith(text []byte, addBOS, special bool) ([]int32, error) {
	defer pinThread()()
	p, err := m.raw()
	if err != nil {
		return nil, err
	}
	flags := tokenizeFlags(addBOS, special)
	ctext := C.CBytes(append([]byte{}, text...))
	defer C.free(ctext)
	capacity := len(text) + 8
	for {
		out := make([]int32, capacity)
		var n C.size_t
		st := C.hearth_tokenize(p, (*C.char)(ctext), C.size_t(len(text)), flags, (*C.hearth_token)(unsafe.Pointer(&out[0])), C.size_t(capacity), &n)
		if st == ErrBufferTooSmall {
			capacity = int(n)
			continue
		}
		if err := check(st); err != nil {
			return nil, err
		}
		return out[:n], nil
	}
}

// TokenToPiece returns one token's bytes (a token may hold part of a UTF-8 character); with special a control
// token gives its text (else nothing).
func (m *Model) TokenToPiece(token int32, special bool) ([]byte, error) {
	p, err := m.raw()
	if err != nil {
		return nil, err
	}
	flags := C.int32_t(0)
	if special {
		flags = 1
	}
	return text(func(buf *C.char, cap C.size_t, n *C.size_t) C.hearth_status {
		return C.hearth_token_to_piece(p, C.hearth_token(token), flags, buf, cap, n)
	})
}

// Detokenize returns the text of tokens.
func (m *Model) Detokenize(tokens []int32) (string, error) {
	p, err := m.raw()
	if err != nil {
		return "", err
	}
	if len(tokens) == 0 {
		return "", nil
	}
	ct := C.malloc(C.size_t(4 * len(tokens)))
	defer C.free(ct)
	copy(unsafe.Slice((*int32)(ct), len(tokens)), tokens)
	b, err := text(func(buf *C.char, cap C.size_t, n *C.size_t) C.hearth_status {
		return C.hearth_detokenize(p, (*C.hearth_token)(ct), C.size_t(len(tokens)), 0, buf, cap, n)
	})
	return string(b), err
}

// ChatMessage is one turn of a conversation: Role is "system", "user" or "assistant".
type ChatMessage struct {
	Role, Content string
}

// ChatApplyTemplate formats a conversation with a chat template: a built-in name (ChatBuiltinTemplates) or a
// template text hearth recognises. Model.ChatApplyTemplate uses the model's own. Tokenize the result with BOS
// and special-token parsing.
func ChatApplyTemplate(template string, messages []ChatMessage, addAssistant bool) (string, error) {
	return chatApply(nil, &template, messages, addAssistant)
}

// ChatBuiltinTemplates lists the built-in template names.
func ChatBuiltinTemplates() []string {
	return strings.Split(C.GoString(C.hearth_chat_builtin_templates()), ", ")
}

// ChatDetectTemplate names the built-in format a template text is recognised as ("" if none).
func ChatDetectTemplate(template string) string {
	ct := C.CString(template)
	defer C.free(unsafe.Pointer(ct))
	r := C.hearth_chat_detect_template(ct)
	if r == nil {
		return ""
	}
	return C.GoString(r)
}

// ChatApplyTemplate formats a conversation with the model's chat template (template nil) or the given one.
func (m *Model) ChatApplyTemplate(messages []ChatMessage, template *string, addAssistant bool) (string, error) {
	p, err := m.raw()
	if err != nil {
		return "", err
	}
	return chatApply(p, template, messages, addAssistant)
}

func chatApply(p *C.hearth_model, template *string, messages []ChatMessage, addAssistant bool) (string, error) {
	n := len(messages)
	cm := (*C.hearth_chat_message)(C.malloc(C.size_t(unsafe.Sizeof(C.hearth_chat_message{})) * C.size_t(n+1)))
	defer C.free(unsafe.Pointer(cm))
	msgs := unsafe.Slice(cm, n+1)
	for i, m := range messages {
		msgs[i].role = C.CString(m.Role)
		msgs[i].content = C.CString(m.Content)
		defer C.free(unsafe.Pointer(msgs[i].role))
		defer C.free(unsafe.Pointer(msgs[i].content))
	}
	var ct *C.char
	if template != nil {
		ct = C.CString(*template)
		defer C.free(unsafe.Pointer(ct))
	}
	add := C.int32_t(0)
	if addAssistant {
		add = 1
	}
	b, err := text(func(buf *C.char, cap C.size_t, out *C.size_t) C.hearth_status {
		return C.hearth_chat_apply_template(p, ct, cm, C.size_t(n), add, buf, cap, out)
	})
	return string(b), err
}

// KV cache element types (SessionOptions.TypeK and TypeV).
const (
	KVDefault = 0 // F16
	KVF32     = 1
	KVF16     = 2
	KVQ8_0    = 3
)

// SessionOptions are a new session's settings; zero values take the library's defaults.
type SessionOptions struct {
	NCtx, NBatch, NThreads, SparseMode int
	CatsSparsity                       float32 // CATS: the fraction of neurons each layer skips; 0: the default
	MaxMemoryBytes                     uint64  // host memory the session may take; 0: what the machine has available
	TypeK, TypeV                       int     // the KV cache's element types (KV*); 0: the default, F16
}

// Session holds a conversation's state.
type Session struct {
	model *Model
	mu    sync.Mutex // serialises Close against Cancel
	ptr   *C.hearth_session
}

// NewSession creates a session on the model.
func (m *Model) NewSession(o SessionOptions) (*Session, error) {
	defer pinThread()()
	p, err := m.raw()
	if err != nil {
		return nil, err
	}
	var sp C.hearth_session_params
	C.hearth_session_params_init(&sp)
	sp.n_ctx = C.int32_t(o.NCtx)
	if o.NBatch > 0 {
		sp.n_batch = C.int32_t(o.NBatch)
	}
	sp.n_threads = C.int32_t(o.NThreads)
	sp.sparse_mode = C.int32_t(o.SparseMode)
	if o.CatsSparsity != 0 {
		sp.cats_sparsity = C.float(o.CatsSparsity)
	}
	sp.max_memory_bytes = C.uint64_t(o.MaxMemoryBytes)
	sp.type_k = C.int32_t(o.TypeK)
	sp.type_v = C.int32_t(o.TypeV)
	var s *C.hearth_session
	if err := check(C.hearth_session_create(p, &sp, &s)); err != nil {
		return nil, err
	}
	sess := &Session{model: m, ptr: s}
	runtime.SetFinalizer(sess, (*Session).Close)
	return sess, nil
}

// Close frees the session. Safe to call twice.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		C.hearth_session_free(s.ptr)
		s.ptr = nil
	}
	return nil
}

func (s *Session) raw() (*C.hearth_session, error) {
	if s == nil || s.ptr == nil {
		return nil, &Error{Status: ErrInvalidArgument, Message: "the session is closed"}
	}
	return s.ptr, nil
}

// Cancel stops the running call on the session (or the next one), from any goroutine.
func (s *Session) Cancel() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		C.hearth_session_cancel(s.ptr)
	}
}

// NPast is the number of tokens the session holds.
func (s *Session) NPast() int { p, _ := s.raw(); return int(C.hearth_session_n_past(p)) }

// NCtx is the session's context length.
func (s *Session) NCtx() int { p, _ := s.raw(); return int(C.hearth_session_n_ctx(p)) }

// Mode says how the FFNs run ("dense", "sparse (predictor)", ...).
func (s *Session) Mode() string { p, _ := s.raw(); return C.GoString(C.hearth_session_mode(p)) }

// LastError is the message of this session's last failed call ("" if none), as its *Error carried.
func (s *Session) LastError() string {
	p, _ := s.raw()
	return C.GoString(C.hearth_session_last_error(p))
}

// SetThreshold overrides the activation threshold of one layer (-1: every layer) for the predictor and CATS modes.
func (s *Session) SetThreshold(layer int, threshold float32) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	return check(C.hearth_session_set_threshold(p, C.int32_t(layer), C.float(threshold)))
}

// ResetStats zeroes the counters SparseStats reports.
func (s *Session) ResetStats() error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	return check(C.hearth_session_reset_stats(p))
}

// Perf is the prompt and generation counts and times of the last Generate or Step run.
type Perf struct {
	NPrompt, NGenerated  int
	PromptMs, GenerateMs float64
}

// Perf reports the last generation's counts and times.
func (s *Session) Perf() (Perf, error) {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return Perf{}, err
	}
	var pf C.hearth_perf
	pf.struct_size = C.uint32_t(unsafe.Sizeof(pf))
	if err := check(C.hearth_session_perf(p, &pf)); err != nil {
		return Perf{}, err
	}
	return Perf{int(pf.n_prompt), int(pf.n_generated), float64(pf.prompt_ms), float64(pf.generate_ms)}, nil
}

// Reset forgets the conversation.
func (s *Session) Reset() error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	return check(C.hearth_session_reset(p))
}

// Truncate keeps the first nKeep evaluated tokens and forgets the rest of the context (and any queued input).
func (s *Session) Truncate(nKeep int) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	return check(C.hearth_session_truncate(p, C.int32_t(nKeep)))
}

// SaveState returns the session's state (context, last logits, queued input, the sampler's generator) for
// LoadState.
func (s *Session) SaveState() ([]byte, error) {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return nil, err
	}
	var n C.size_t
	if err := check(C.hearth_session_state_size(p, &n)); err != nil {
		return nil, err
	}
	buf := C.malloc(n + 1)
	defer C.free(buf)
	if err := check(C.hearth_session_state_save(p, buf, n, &n)); err != nil {
		return nil, err
	}
	return C.GoBytes(buf, C.int(n)), nil
}

// LoadState restores a state from SaveState; a refused one leaves the session as it was.
func (s *Session) LoadState(state []byte) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	buf := C.CBytes(state)
	defer C.free(buf)
	return check(C.hearth_session_state_load(p, buf, C.size_t(len(state))))
}

// SaveStateFile writes SaveState's bytes to path, whole or not at all.
func (s *Session) SaveStateFile(path string) error {
	return s.withPath(path, func(p *C.hearth_session, c *C.char) C.hearth_status { return C.hearth_session_state_save_file(p, c) })
}

// LoadStateFile is LoadState from a file.
func (s *Session) LoadStateFile(path string) error {
	return s.withPath(path, func(p *C.hearth_session, c *C.char) C.hearth_status { return C.hearth_session_state_load_file(p, c) })
}

func (s *Session) withPath(path string, call func(*C.hearth_session, *C.char) C.hearth_status) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return check(call(p, cpath))
}

// SeedRandom as SamplerParams.Seed asks for a fresh seed each time the sampler is set; Session.Seed reports it.
const SeedRandom = ^uint64(0)

// SamplerParams are the sampler's settings (hearth_sampler_params).
type SamplerParams struct {
	Temperature   float32 // <= 0: greedy
	TopK          int     // <= 0: off
	TopP          float32 // >= 1: off
	MinP          float32 // <= 0: off
	RepeatPenalty float32 // 1: off
	RepeatLastN   int     // tokens looked back for the penalty
	Seed          uint64  // SeedRandom (the default): a fresh one
}

// DefaultSamplerParams are the library's defaults (hearth_sampler_params_init), read from it rather than
// restated, so every binding samples alike.
func DefaultSamplerParams() SamplerParams {
	var sp C.hearth_sampler_params
	C.hearth_sampler_params_init(&sp)
	return SamplerParams{float32(sp.temperature), int(sp.top_k), float32(sp.top_p), float32(sp.min_p),
		float32(sp.repeat_penalty), int(sp.repeat_last_n), uint64(sp.seed)}
}

// SetSampler sets the sampler and re-seeds it.
func (s *Session) SetSampler(o SamplerParams) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	var sp C.hearth_sampler_params
	C.hearth_sampler_params_init(&sp)
	sp.temperature = C.float(o.Temperature)
	sp.top_k = C.int32_t(o.TopK)
	sp.top_p = C.float(o.TopP)
	sp.min_p = C.float(o.MinP)
	sp.repeat_penalty = C.float(o.RepeatPenalty)
	sp.repeat_last_n = C.int32_t(o.RepeatLastN)
	sp.seed = C.uint64_t(o.Seed)
	return check(C.hearth_session_set_sampler(p, &sp))
}

// SetGreedy makes sampling deterministic (temperature 0, the other settings the library's).
func (s *Session) SetGreedy() error {
	o := DefaultSamplerParams()
	o.Temperature = 0
	return s.SetSampler(o)
}

// Seed is the seed the sampler was last set with: the one given, or the one drawn for SeedRandom; set it again
// to repeat a run.
func (s *Session) Seed() uint64 {
	p, err := s.raw()
	if err != nil {
		return SeedRandom
	}
	return uint64(C.hearth_session_seed(p))
}

// Sample draws a token from the last logits (it is recorded for the repetition penalty, not evaluated).
func (s *Session) Sample() (int32, error) {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return -1, err
	}
	var t C.hearth_token
	if err := check(C.hearth_session_sample(p, &t)); err != nil {
		return -1, err
	}
	return int32(t), nil
}

// Logits returns a copy of the logits of token i of the last eval (-1: its last), or nil if they were not kept.
func (s *Session) Logits(i int) []float32 {
	p, err := s.raw()
	if err != nil {
		return nil
	}
	l := C.hearth_session_logits(p, C.int32_t(i))
	if l == nil {
		return nil
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(l)), s.model.NVocab())...)
}

// Feed queues text for Step (tokenized now): addBOS puts the BOS token first, special parses control tokens.
func (s *Session) Feed(text string, addBOS, special bool) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	return check(C.hearth_session_feed(p, ctext, C.size_t(len(text)), tokenizeFlags(addBOS, special)))
}

// Step does one bounded piece of work: it evaluates a chunk of queued input (ok false), or, with nothing queued,
// samples a token, evaluates it and returns it (check IsEOG to stop).
func (s *Session) Step() (token int32, ok bool, err error) {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return -1, false, err
	}
	var t C.hearth_token
	if err := check(C.hearth_session_step(p, &t)); err != nil {
		return -1, false, err
	}
	return int32(t), t >= 0, nil
}

// SparseStats says what the FFNs did over the tokens evaluated since the session was created.
type SparseStats struct {
	Mode                int
	Tokens              uint64
	ActiveFraction      float64 // computed neurons / all neurons
	DecodeBytesPerToken float64 // weight bytes read per one-token step
	PredictorMs         float64
	TotalMs             float64
	GPUNeuronShare      float64
	GPUBytesPerToken    float64
	UsesGPU             bool
}

// SparseStats reports the session's FFN statistics.
func (s *Session) SparseStats() (SparseStats, error) {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return SparseStats{}, err
	}
	var st C.hearth_sparse_stats
	st.struct_size = C.uint32_t(unsafe.Sizeof(st))
	if err := check(C.hearth_session_sparse_stats(p, &st)); err != nil {
		return SparseStats{}, err
	}
	return SparseStats{int(st.mode), uint64(st.tokens), float64(st.active_fraction), float64(st.decode_bytes_per_token),
		float64(st.predictor_ms), float64(st.total_ms), float64(st.gpu_neuron_share), float64(st.gpu_bytes_per_token),
		st.uses_gpu != 0}, nil
}

// Eval evaluates tokens after those the session holds (the last token's logits are kept).
func (s *Session) Eval(tokens []int32) error { return s.EvalWith(tokens, false) }

// EvalWith is Eval; with allLogits every token's logits are kept (Logits(i)).
func (s *Session) EvalWith(tokens []int32, allLogits bool) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return nil
	}
	ct := C.malloc(C.size_t(4 * len(tokens)))
	defer C.free(ct)
	copy(unsafe.Slice((*int32)(ct), len(tokens)), tokens)
	all := C.int32_t(0)
	if allLogits {
		all = 1
	}
	return check(C.hearth_session_eval(p, (*C.hearth_token)(ct), C.int32_t(len(tokens)), all))
}

type generation struct {
	fn    func(string) bool
	panic interface{}
}

//export hearthGoOnToken
func hearthGoOnToken(token C.hearth_token, piece *C.char, n C.size_t, user unsafe.Pointer) (ret C.int32_t) {
	g := cgo.Handle(uintptr(user)).Value().(*generation)
	defer func() { // a panic must not cross into C: stop, and re-panic in Generate
		if r := recover(); r != nil {
			g.panic = r
			ret = 1
		}
	}()
	if g.fn(C.GoStringN(piece, C.int(n))) {
		return 0
	}
	return 1
}

// GenerateOptions are GenerateWith's settings (hearth_generate_params).
type GenerateOptions struct {
	MaxTokens int
	AddBOS    bool
	StopAtEOG bool
}

// DefaultGenerateOptions are the library's defaults (hearth_generate_params_init).
func DefaultGenerateOptions() GenerateOptions {
	var gp C.hearth_generate_params
	C.hearth_generate_params_init(&gp)
	return GenerateOptions{int(gp.n_predict), gp.add_bos != 0, gp.stop_at_eog != 0}
}

// Generate continues prompt for up to maxTokens tokens, streaming each piece of text (whole UTF-8 characters) to
// onPiece, which returns false to stop.
func (s *Session) Generate(prompt string, maxTokens int, onPiece func(string) bool) error {
	o := DefaultGenerateOptions()
	o.MaxTokens = maxTokens
	return s.GenerateWith(prompt, o, onPiece)
}

// GenerateWith is Generate with the BOS and end-of-generation choices.
func (s *Session) GenerateWith(prompt string, o GenerateOptions, onPiece func(string) bool) error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	g := &generation{fn: onPiece}
	h := cgo.NewHandle(g)
	defer h.Delete()
	cprompt := C.CString(prompt)
	defer C.free(unsafe.Pointer(cprompt))
	var gp C.hearth_generate_params
	C.hearth_generate_params_init(&gp)
	gp.n_predict = C.int32_t(o.MaxTokens)
	gp.add_bos, gp.stop_at_eog = 0, 0
	if o.AddBOS {
		gp.add_bos = 1
	}
	if o.StopAtEOG {
		gp.stop_at_eog = 1
	}
	st := C.hearth_go_generate(p, cprompt, &gp, C.uintptr_t(h))
	if g.panic != nil {
		panic(g.panic)
	}
	return check(st)
}
