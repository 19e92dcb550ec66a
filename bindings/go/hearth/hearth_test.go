package hearth

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testModel(t *testing.T) *Model {
	path := os.Getenv("HEARTH_TEST_MODEL")
	if path == "" {
		t.Fatal("HEARTH_TEST_MODEL must name a model file")
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVersion(t *testing.T) {
	if strings.Count(Version(), ".") != 2 || GPUCount() < 0 || CPUISA() == "" {
		t.Fatal(Version(), GPUCount(), CPUISA())
	}
}

func TestErrors(t *testing.T) {
	_, err := Load("/nonexistent/m.gguf")
	if he, ok := err.(*Error); !ok || he.Status != ErrIO || !strings.Contains(err.Error(), "cannot open") {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"), 0o644)
	if _, err := Load(bad); err == nil || err.(*Error).Status != ErrBadFormat {
		t.Fatalf("corrupt file: %v", err)
	}
	m := testModel(t)
	defer m.Close()
	if _, err := m.Tokenize([]byte("abc\xff"), false); err == nil || err.(*Error).Status != ErrInvalidArgument {
		t.Fatalf("bad UTF-8: %v", err)
	}
	s, _ := m.NewSession(SessionOptions{NCtx: 16})
	toks := make([]int32, 40)
	for i := range toks {
		toks[i] = int32(3 + i)
	}
	if err := s.Eval(toks); err == nil || err.(*Error).Status != ErrContextFull {
		t.Fatalf("overflow: %v", err)
	}
	s.Close()
	s.Close()
	if err := s.Eval([]int32{1}); err == nil {
		t.Fatal("a closed session must refuse calls")
	}
}

func TestChatTemplates(t *testing.T) {
	msgs := []ChatMessage{{"system", "S"}, {"user", "Hi"}}
	got, err := ChatApplyTemplate("chatml", msgs, true)
	if err != nil || got != "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("chatml: %q %v", got, err)
	}
	if ChatDetectTemplate("<start_of_turn>") != "gemma" || ChatDetectTemplate("plain") != "" {
		t.Fatal("detection")
	}
	found := false
	for _, n := range ChatBuiltinTemplates() {
		found = found || n == "llama3"
	}
	if !found {
		t.Fatal("llama3 is not listed")
	}
	if _, err := ChatApplyTemplate("{% macro m() %}{% endmacro %}", msgs, true); err == nil || err.(*Error).Status != ErrUnsupported ||
		!strings.Contains(err.Error(), "chatml") {
		t.Fatalf("unknown template: %v", err)
	}
	if _, err := ChatApplyTemplate("chatml", []ChatMessage{{"narrator", "x"}}, true); err == nil || err.(*Error).Status != ErrInvalidArgument {
		t.Fatalf("unknown role: %v", err)
	}
	m := testModel(t)
	defer m.Close()
	if _, err := m.ChatApplyTemplate(msgs, nil, true); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Fatalf("model without a template: %v", err)
	}
	z := "zephyr"
	if got, err := m.ChatApplyTemplate(msgs, &z, true); err != nil || !strings.HasPrefix(got, "<|system|>\nS") {
		t.Fatalf("zephyr: %q %v", got, err)
	}
}

func TestTokenizer(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	if v, ok, err := m.Meta("general.architecture"); err != nil || !ok || v != "llama" {
		t.Fatal(v, ok, err)
	}
	if _, ok, err := m.Meta("no.such.key"); ok || err != nil {
		t.Fatal(ok, err)
	}
	g, err := m.GPUInfo()
	if err != nil || g.VRAMWeightBytes > g.VRAMBudgetBytes {
		t.Fatal(g, err)
	}
	if GPUCount() == 0 && os.Getenv("HEARTH_EMULATE_GPU") == "" && g.Offload != GPUNone {
		t.Fatal("no GPU, yet the model reports an offload:", g)
	}
	text := "The hearth keeps the house warm."
	toks, err := m.Tokenize([]byte(text), true)
	if err != nil || toks[0] != m.BOS() {
		t.Fatal(toks, err)
	}
	back, err := m.Detokenize(toks[1:])
	if err != nil || back != text {
		t.Fatalf("%q %v", back, err)
	}
}

func generate(t *testing.T, s *Session, n int) string {
	var b strings.Builder
	if err := s.Generate("Once upon a time", n, func(p string) bool { b.WriteString(p); return true }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestStreamingGeneration(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	s, err := m.NewSession(SessionOptions{NCtx: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetGreedy()
	a := generate(t, s, 16)
	s.Reset()
	if b := generate(t, s, 16); a == "" || a != b {
		t.Fatalf("%q != %q", a, b)
	}
	s.Reset()
	n := 0
	s.Generate("Hello", 50, func(string) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatal("the callback did not stop the generation", n)
	}
	s.Reset()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a panic in the callback must reach the caller")
			}
		}()
		s.Generate("Hello", 50, func(string) bool { panic("from the callback") })
	}()
}

func TestCancel(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	s, _ := m.NewSession(SessionOptions{NCtx: 512})
	defer s.Close()
	done := make(chan struct{})
	go func() { s.Cancel(); close(done) }()
	<-done
	if err := s.Generate("Hello", 400, func(string) bool { return true }); !IsCancelled(err) {
		t.Fatalf("expected cancellation, got %v", err)
	}
	s.Reset()
	if err := s.Generate("Hello", 4, func(string) bool { return true }); err != nil {
		t.Fatal("the cancel must be consumed:", err)
	}
	s.Reset()
	timer := time.AfterFunc(5*time.Millisecond, s.Cancel)
	if err := s.Generate("Hello", 400, func(string) bool { return true }); err != nil && !IsCancelled(err) {
		t.Fatal(err)
	}
	timer.Stop()
}

func TestSharedModelManyGoroutines(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	var wg sync.WaitGroup
	out := make([]string, 4)
	for i := range out {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := m.NewSession(SessionOptions{NCtx: 128, NThreads: 1})
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			s.SetGreedy()
			out[i] = generate(t, s, 8)
		}(i)
	}
	wg.Wait()
	for _, o := range out {
		if o != out[0] {
			t.Fatalf("greedy text differs across goroutines: %q", out)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	_, err := m.NewSession(SessionOptions{NCtx: 1 << 16, MaxMemoryBytes: 1 << 20})
	if err == nil || err.(*Error).Status != ErrOutOfMemory || !strings.Contains(err.Error(), "KV cache") {
		t.Fatalf("a session over its memory limit must be refused with the figure: %v", err)
	}
	s, err := m.NewSession(SessionOptions{NCtx: 64, MaxMemoryBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Eval([]int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
}
