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

static hearth_status hearth_go_generate(hearth_session *s, const char *prompt, int32_t n_predict, uintptr_t handle) {
	hearth_generate_params p;
	hearth_generate_params_init(&p);
	p.n_predict = n_predict;
	p.on_token = (hearth_token_fn)hearthGoOnToken;
	p.user = (void *)handle;
	return hearth_generate(s, prompt, &p);
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

// CPUISA is the CPU kernel tier in use.
func CPUISA() string { return C.GoString(C.hearth_cpu_isa()) }

// GPUCount is the number of usable CUDA devices.
func GPUCount() int { return int(C.hearth_gpu_count()) }

// Model is a loaded model file.
type Model struct {
	mu  sync.RWMutex
	ptr *C.hearth_model
}

// Load maps a GGUF model file.
func Load(path string) (*Model, error) {
	defer pinThread()()
	if err := checkLayout(); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var p C.hearth_model_params
	C.hearth_model_params_init(&p)
	var m *C.hearth_model
	if err := check(C.hearth_model_load(cpath, &p, &m)); err != nil {
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
	defer pinThread()()
	p, err := m.raw()
	if err != nil {
		return nil, err
	}
	flags := C.int32_t(0)
	if addBOS {
		flags = 1
	}
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

// SessionOptions are a new session's settings; zero values take the library's defaults.
type SessionOptions struct {
	NCtx, NBatch, NThreads, SparseMode int
	MaxMemoryBytes                     uint64 // host memory the session may take; 0: what the machine has available
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
	sp.max_memory_bytes = C.uint64_t(o.MaxMemoryBytes)
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

// Reset forgets the conversation.
func (s *Session) Reset() error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	return check(C.hearth_session_reset(p))
}

// SetGreedy makes sampling deterministic (temperature 0).
func (s *Session) SetGreedy() error {
	defer pinThread()()
	p, err := s.raw()
	if err != nil {
		return err
	}
	var sp C.hearth_sampler_params
	C.hearth_sampler_params_init(&sp)
	sp.temperature = 0
	return check(C.hearth_session_set_sampler(p, &sp))
}

// Eval evaluates tokens after those the session holds.
func (s *Session) Eval(tokens []int32) error {
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
	return check(C.hearth_session_eval(p, (*C.hearth_token)(ct), C.int32_t(len(tokens)), 0))
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

// Generate continues prompt for up to maxTokens tokens, streaming each piece of text (whole UTF-8 characters) to
// onPiece, which returns false to stop.
func (s *Session) Generate(prompt string, maxTokens int, onPiece func(string) bool) error {
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
	st := C.hearth_go_generate(p, cprompt, C.int32_t(maxTokens), C.uintptr_t(h))
	if g.panic != nil {
		panic(g.panic)
	}
	return check(st)
}
