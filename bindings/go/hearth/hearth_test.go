package hearth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	if s.LastError() != "" {
		t.Fatalf("a new session's last error: %q", s.LastError())
	}
	err = s.Eval(toks)
	if err == nil || err.(*Error).Status != ErrContextFull {
		t.Fatalf("overflow: %v", err)
	}
	if msg := err.(*Error).Message; msg == "" || s.LastError() != msg {
		t.Fatalf("the session's last error %q, the call's %q", s.LastError(), msg)
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

func textOf(t *testing.T, s *Session, prompt string, o GenerateOptions) string {
	var b strings.Builder
	if err := s.GenerateWith(prompt, o, func(p string) bool { b.WriteString(p); return true }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLoadOptions(t *testing.T) {
	path := os.Getenv("HEARTH_TEST_MODEL")
	var seen []float32
	m, err := LoadWith(path, LoadOptions{Prefault: true, GPUOffload: GPUNone, Progress: func(f float32) bool { seen = append(seen, f); return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(seen) == 0 || seen[len(seen)-1] != 1 {
		t.Fatalf("progress: %v", seen)
	}
	for i, f := range seen {
		if f < 0 || f > 1 || (i > 0 && f < seen[i-1]) {
			t.Fatalf("progress out of order: %v", seen)
		}
	}
	if g, _ := m.GPUInfo(); g.Offload != GPUNone {
		t.Fatalf("offload %d", g.Offload)
	}
	if _, err := LoadWith(path, LoadOptions{Progress: func(float32) bool { return false }}); err == nil || err.(*Error).Status != ErrCancelled {
		t.Fatalf("abort: %v", err)
	}
	// the layer cap and the GPU context reach the library (it names the field it refuses)
	for _, c := range []struct {
		o     LoadOptions
		field string
	}{{LoadOptions{GPUOffload: GPULayers, GPULayers: -1}, "gpu_n_layers"}, {LoadOptions{GPUOffload: GPULayers, GPUNCtx: -1}, "gpu_n_ctx"}} {
		if _, err := LoadWith(path, c.o); err == nil || err.(*Error).Status != ErrInvalidArgument || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("%s -1: %v", c.field, err)
		}
	}
	if g, err := LoadWith(path, LoadOptions{GPUOffload: GPULayers, GPULayers: 1, GPUNCtx: 64}); err != nil {
		t.Fatal(err)
	} else {
		g.Close()
	}
	v, err := LoadWith(path, LoadOptions{VocabOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, _ := v.Tokenize([]byte("Once upon"), true)
	b, _ := m.Tokenize([]byte("Once upon"), true)
	if len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("vocab-only tokens %v, full %v", a, b)
	}
	if _, err := v.NewSession(SessionOptions{NCtx: 64}); err == nil {
		t.Fatal("a vocabulary-only model must refuse to evaluate")
	}
}

func TestSamplerAndSeed(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	s, _ := m.NewSession(SessionOptions{NCtx: 256})
	defer s.Close()
	d := DefaultSamplerParams()
	if d.Seed != SeedRandom || d.Temperature <= 0 || d.RepeatPenalty == 1 {
		t.Fatalf("defaults %+v", d)
	}
	g := DefaultGenerateOptions()
	g.MaxTokens = 24
	s.SetSampler(d)
	drawn := s.Seed()
	if drawn == SeedRandom {
		t.Fatal("no seed drawn")
	}
	a := textOf(t, s, "Once upon a time", g)
	s.Reset()
	s.SetSampler(d)
	if s.Seed() == drawn {
		t.Fatal("the same seed drawn twice")
	}
	s.Reset()
	d.Seed = drawn
	s.SetSampler(d)
	if b := textOf(t, s, "Once upon a time", g); b != a {
		t.Fatalf("seed %d repeated %q, first %q", drawn, b, a)
	}
	s.Reset()
	d.RepeatPenalty = 1
	s.SetSampler(d)
	if c := textOf(t, s, "Once upon a time", g); c == a {
		t.Fatal("the repeat penalty had no effect")
	}
	bad := DefaultSamplerParams()
	bad.TopP = 0
	if err := s.SetSampler(bad); err == nil || err.(*Error).Status != ErrInvalidArgument {
		t.Fatalf("top_p 0: %v", err)
	}
}

func TestFeedStepLogitsAndStats(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	s, _ := m.NewSession(SessionOptions{NCtx: 256})
	defer s.Close()
	s.SetGreedy()
	g := DefaultGenerateOptions()
	g.MaxTokens, g.AddBOS = 12, false
	want := textOf(t, s, "The mill", g)
	s.Reset()
	if err := s.Feed("The mill", false, false); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for n := 0; n < 12; {
		tok, ok, err := s.Step()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		n++
		if m.IsEOG(tok) {
			break
		}
		p, _ := m.TokenToPiece(tok, false)
		got = append(got, p...)
	}
	// generate ends an unfinished UTF-8 character with U+FFFD; the raw pieces keep its bytes
	if strings.ToValidUTF8(string(got), "\uFFFD") != want {
		t.Fatalf("step gave %q, generate %q", got, want)
	}
	// greedy: the sampled token is the arg max of the logits
	s.Reset()
	toks := mustTokens(t, m, "The hearth keeps", true)
	if err := s.EvalWith(toks, true); err != nil {
		t.Fatal(err)
	}
	first, last := s.Logits(0), s.Logits(-1)
	if len(first) != m.NVocab() || len(last) != m.NVocab() || fmt.Sprint(first) == fmt.Sprint(last) {
		t.Fatal("all logits")
	}
	best := 0
	for i, v := range last {
		if v > last[best] {
			best = i
		}
	}
	if tok, err := s.Sample(); err != nil || int(tok) != best {
		t.Fatalf("sample %d, arg max %d (%v)", tok, best, err)
	}
	st, err := s.SparseStats()
	if err != nil || st.Tokens == 0 || st.ActiveFraction <= 0 || st.ActiveFraction > 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
	// special: the BOS token's text parses as BOS only with the flag
	if bt, _ := m.TokenToPiece(m.BOS(), true); len(bt) > 0 {
		if sp, _ := m.TokenizeWith(bt, false, true); len(sp) != 1 || sp[0] != m.BOS() {
			t.Fatalf("special %q -> %v", bt, sp)
		}
		if pl, _ := m.TokenizeWith(bt, false, false); len(pl) == 1 && pl[0] == m.BOS() {
			t.Fatalf("without the flag %q must not be BOS", bt)
		}
	}
}

func mustTokens(t *testing.T, m *Model, text string, bos bool) []int32 {
	toks, err := m.Tokenize([]byte(text), bos)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// The recipe every binding's suite runs (the library's sampler defaults, seed 42, 32 tokens after
// "Once upon a time" with BOS); .ci/bindings compares the texts with `hearth run` (C).
func TestParityText(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	s, _ := m.NewSession(SessionOptions{NCtx: 256})
	defer s.Close()
	d := DefaultSamplerParams()
	d.Seed = 42
	s.SetSampler(d)
	g := DefaultGenerateOptions()
	g.MaxTokens = 32
	text := textOf(t, s, "Once upon a time", g)
	if text == "" {
		t.Fatal("no text")
	}
	if dir := os.Getenv("HEARTH_PARITY_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "go.txt"), []byte(text), 0o644)
	}
}

func TestRestOfTheCSurface(t *testing.T) {
	// versions, the log callback, model sizes, session options and counters, thresholds, perf
	var major, minor, patch int
	fmt.Sscanf(Version(), "%d.%d.%d", &major, &minor, &patch)
	if VersionNumber() != major*10000+minor*100+patch || ABIVersion() != HeaderABIVersion {
		t.Fatalf("version %d (%s), ABI %d (header %d)", VersionNumber(), Version(), ABIVersion(), HeaderABIVersion)
	}
	path := os.Getenv("HEARTH_TEST_MODEL")
	var mu sync.Mutex
	var lines []string
	loaded := false
	SetLogCallback(func(level int, msg string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, msg)
		loaded = loaded || (level == LogInfo && strings.Contains(msg, "loaded"))
	}, LogInfo)
	vocabOnly := func() {
		v, err := LoadWith(path, LoadOptions{VocabOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		v.Close()
	}
	vocabOnly()
	SetLogCallback(nil, 0)
	mu.Lock()
	n := len(lines)
	mu.Unlock()
	if !loaded {
		t.Fatalf("no load message in %q", lines)
	}
	vocabOnly()
	if len(lines) != n {
		t.Fatal("still logging after SetLogCallback(nil)")
	}
	m := testModel(t)
	defer m.Close()
	meta := func(k string) int {
		v, ok, err := m.Meta(k)
		var x int
		if _, e := fmt.Sscan(v, &x); !ok || err != nil || e != nil {
			t.Fatalf("meta %s: %q %v %v", k, v, err, e)
		}
		return x
	}
	if m.NEmbd() != meta("llama.embedding_length") || m.NCtxTrain() != meta("llama.context_length") ||
		m.NLayer() != meta("llama.block_count") || int(m.EOS()) != meta("tokenizer.ggml.eos_token_id") || !m.IsEOG(m.EOS()) {
		t.Fatal("model sizes disagree with the metadata")
	}
	fi, _ := os.Stat(path)
	if size := uint64(fi.Size()); m.SizeBytes() <= size/2 || m.SizeBytes() > size { // weights: most of the file
		t.Fatalf("size %d of a %d-byte file", m.SizeBytes(), size)
	}
	// the Q4_0 test model's matrices are repacked on x86-64 by default; NoRepack reaches the library
	if r := m.RepackedBytes(); r > m.SizeBytes() || (r == 0 && runtime.GOARCH == "amd64") {
		t.Fatalf("repacked %d of %d bytes", r, m.SizeBytes())
	}
	if plain, err := LoadWith(path, LoadOptions{NoRepack: true}); err != nil || plain.RepackedBytes() != 0 {
		t.Fatalf("no repack: %v", err)
	} else {
		plain.Close()
	}
	if m.NParams() <= uint64(m.NEmbd()*m.NVocab()) {
		t.Fatalf("n_params %d", m.NParams())
	}
	if d, err := m.Desc(); err != nil || !strings.Contains(d, "llama") {
		t.Fatalf("desc %q %v", d, err)
	}
	s, err := m.NewSession(SessionOptions{NCtx: 96, NBatch: 16, NThreads: 1, CatsSparsity: 0.3, TypeK: KVF32})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.NCtx() != 96 || s.Mode() == "" {
		t.Fatalf("n_ctx %d, mode %q", s.NCtx(), s.Mode())
	}
	if err := s.SetThreshold(-1, 0.25); err != nil {
		t.Fatal(err)
	}
	if err := s.SetThreshold(m.NLayer(), 0.25); err == nil || err.(*Error).Status != ErrInvalidArgument {
		t.Fatalf("threshold of a layer that does not exist: %v", err)
	}
	sp := DefaultSamplerParams()
	sp.Seed = 3
	s.SetSampler(sp)
	g := DefaultGenerateOptions()
	g.MaxTokens, g.StopAtEOG = 5, false
	textOf(t, s, "The mill", g)
	pf, err := s.Perf()
	if err != nil || pf.NPrompt != len(mustTokens(t, m, "The mill", true)) || pf.NGenerated != 5 || pf.GenerateMs < 0 {
		t.Fatalf("perf %+v %v", pf, err)
	}
	if s.NPast() != pf.NPrompt+5 { // each sampled token is evaluated: context now
		t.Fatalf("n_past %d", s.NPast())
	}
	if st, _ := s.SparseStats(); st.Tokens == 0 {
		t.Fatal("no tokens counted")
	}
	if err := s.ResetStats(); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.SparseStats(); st.Tokens != 0 {
		t.Fatalf("%d tokens after ResetStats", st.Tokens)
	}
	if _, err := m.NewSession(SessionOptions{NCtx: 64, TypeK: 99}); err == nil || err.(*Error).Status != ErrInvalidArgument {
		t.Fatalf("KV type 99: %v", err)
	}
}

func stepsOf(t *testing.T, s *Session, n int) []int32 {
	var out []int32
	for len(out) < n {
		tok, ok, err := s.Step()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, tok)
		}
	}
	return out
}

func TestStateSaveLoadAndTruncate(t *testing.T) {
	m := testModel(t)
	defer m.Close()
	a, _ := m.NewSession(SessionOptions{NCtx: 256})
	defer a.Close()
	b, _ := m.NewSession(SessionOptions{NCtx: 256})
	defer b.Close()
	pa, pb := DefaultSamplerParams(), DefaultSamplerParams()
	pa.Seed, pb.Seed = 11, 12
	a.SetSampler(pa)
	b.SetSampler(pb)
	if err := a.Feed("The river ran", true, false); err != nil {
		t.Fatal(err)
	}
	stepsOf(t, a, 4)
	state, err := a.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(stepsOf(t, a, 10))
	if err := b.LoadState(state); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(stepsOf(t, b, 10)); got != want {
		t.Fatalf("restored session gave %s, want %s", got, want)
	}
	path := filepath.Join(t.TempDir(), "state.hrst")
	if err := a.LoadState(state); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveStateFile(path); err != nil {
		t.Fatal(err)
	}
	if disk, _ := os.ReadFile(path); string(disk) != string(state) {
		t.Fatal("the state file differs from SaveState's bytes")
	}
	if err := b.LoadStateFile(path); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(stepsOf(t, b, 10)); got != want {
		t.Fatalf("session restored from the file gave %s, want %s", got, want)
	}
	bad := append([]byte(nil), state...)
	bad[len(bad)/2] ^= 1
	nPast := b.NPast()
	var he *Error
	if err := b.LoadState(bad); !errors.As(err, &he) || he.Status != ErrBadFormat {
		t.Fatalf("a corrupted state gave %v", err)
	}
	if b.NPast() != nPast {
		t.Fatal("a refused state changed the session")
	}
	if err := b.Truncate(3); err != nil || b.NPast() != 3 {
		t.Fatalf("truncate: %v, n_past %d", err, b.NPast())
	}
	if err := b.Truncate(4); err == nil {
		t.Fatal("truncating past n_past was accepted")
	}
}
