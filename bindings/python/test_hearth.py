"""The Python binding's suite (unittest, standard library only). Needs $HEARTH_TEST_MODEL (a small model file) and
libhearth ($HEARTH_LIBRARY or the system search). Prints 'N passed, N failed' and exits non-zero on failure."""
import ctypes
import os
import platform
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hearth  # noqa: E402

MODEL = os.environ.get("HEARTH_TEST_MODEL", "")


class Basics(unittest.TestCase):
    def test_version_and_machine(self):
        self.assertRegex(hearth.version(), r"^\d+\.\d+\.\d+$")
        self.assertIn(hearth.cpu_isa(), ("ref", "avx2", "avx512", "neon", "dotprod"))
        self.assertGreaterEqual(hearth.gpu_count(), 0)

    def test_missing_file_raises_io_error(self):
        with self.assertRaises(hearth.HearthError) as cm:
            hearth.Model("/nonexistent/model.gguf")
        self.assertEqual(cm.exception.status, hearth.ERR_IO)
        self.assertIn("cannot open", cm.exception.message)

    def test_chat_templates(self):
        msgs = [{"role": "system", "content": "S"}, ("user", "Hi")]
        self.assertEqual(hearth.chat_apply_template("chatml", msgs),
                         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        self.assertEqual(hearth.chat_apply_template("llama3", [("user", " Hi ")], add_assistant=False),
                         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
        self.assertIn("gemma", hearth.chat_builtin_templates())
        # a template text is rendered by the Jinja subset
        self.assertEqual(hearth.chat_apply_template("{% for m in messages %}{{ m.role | upper }};{% endfor %}", msgs),
                         "SYSTEM;USER;")
        self.assertEqual(hearth.chat_detect_template("{{ '<start_of_turn>' + role }}"), "gemma")
        self.assertIsNone(hearth.chat_detect_template("plain text"))
        with self.assertRaises(hearth.HearthError) as cm:
            hearth.chat_apply_template("{% macro m() %}{% endmacro %}", msgs)
        self.assertEqual(cm.exception.status, hearth.ERR_UNSUPPORTED)
        self.assertIn("chatml", cm.exception.message)
        with self.assertRaises(hearth.HearthError) as cm:
            hearth.chat_apply_template("chatml", [("narrator", "x")])
        self.assertEqual(cm.exception.status, hearth.ERR_INVALID_ARGUMENT)

    def test_corrupt_file_raises_format_error(self):
        with tempfile.NamedTemporaryFile(suffix=".gguf", delete=False) as f:
            f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
            path = f.name
        try:
            with self.assertRaises(hearth.HearthError) as cm:
                hearth.Model(path)
            self.assertEqual(cm.exception.status, hearth.ERR_BAD_FORMAT)
        finally:
            os.unlink(path)


@unittest.skipUnless(MODEL, "HEARTH_TEST_MODEL is not set")
class WithModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = hearth.Model(MODEL)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()

    def test_gpu_offload_options(self):
        # Asking for the GPU loads anyway: on a machine without one the model runs on the CPU.
        with hearth.Model(MODEL, gpu_offload=hearth.Model.GPU_HYBRID, vram_budget_bytes=1 << 30) as m:
            info = m.gpu_info()
            self.assertIn(info["gpu_offload"], (hearth.Model.GPU_NONE, hearth.Model.GPU_HYBRID, hearth.Model.GPU_LAYERS))
            self.assertLessEqual(info["vram_weight_bytes"], info["vram_budget_bytes"])
            with hearth.Session(m) as s:
                s.eval(m.tokenize("Hello"))
                st = s.sparse_stats()
                self.assertIsInstance(st["uses_gpu"], bool)
                if hearth.gpu_count() == 0:  # libhearth.so has no emulated device
                    self.assertFalse(st["uses_gpu"])
                self.assertGreaterEqual(st["gpu_neuron_share"], 0.0)
        with self.assertRaises(hearth.HearthError) as cm:
            hearth.Model(MODEL, gpu_offload=7)
        self.assertEqual(cm.exception.status, hearth.ERR_INVALID_ARGUMENT)
        # the layer cap and the GPU context reach the library (it names the field it refuses)
        for field in ("gpu_n_layers", "gpu_n_ctx"):
            with self.assertRaises(hearth.HearthError) as cm:
                hearth.Model(MODEL, gpu_offload=hearth.Model.GPU_LAYERS, **{field: -1})
            self.assertEqual(cm.exception.status, hearth.ERR_INVALID_ARGUMENT)
            self.assertIn(field, cm.exception.message)
        hearth.Model(MODEL, gpu_offload=hearth.Model.GPU_LAYERS, gpu_n_layers=1, gpu_n_ctx=64).close()

    def test_metadata(self):
        m = self.model
        self.assertGreater(m.n_vocab, 100)
        self.assertGreater(m.n_layer, 0)
        self.assertIn("llama", m.description)
        self.assertEqual(m.meta("general.architecture"), "llama")
        with self.assertRaises(KeyError):
            m.meta("no.such.key")

    def test_rest_of_the_c_surface(self):
        # versions, the log callback, model sizes, session options and counters, thresholds, perf
        major, minor, patch = (int(x) for x in hearth.version().split("."))
        self.assertEqual(hearth.version_number(), major * 10000 + minor * 100 + patch)
        self.assertEqual(hearth.abi_version(), hearth.ABI_VERSION)
        lines = []
        hearth.set_log_callback(lambda level, msg: lines.append((level, msg)), hearth.LOG_INFO)
        try:
            hearth.Model(MODEL, vocab_only=True).close()
        finally:
            hearth.set_log_callback(None)
        self.assertTrue(any(level == hearth.LOG_INFO and "loaded" in msg for level, msg in lines), lines)
        n = len(lines)
        hearth.Model(MODEL, vocab_only=True).close()
        self.assertEqual(len(lines), n)  # silenced again
        m = self.model
        self.assertEqual(m.n_embd, int(m.meta("llama.embedding_length")))
        self.assertEqual(m.n_ctx_train, int(m.meta("llama.context_length")))
        self.assertEqual(m.n_layer, int(m.meta("llama.block_count")))
        self.assertEqual(m.eos, int(m.meta("tokenizer.ggml.eos_token_id")))
        self.assertTrue(m.is_eog(m.eos))
        size = os.path.getsize(MODEL)
        self.assertTrue(size // 2 < m.size_bytes <= size, (m.size_bytes, size))  # the weights are most of the file
        # the Q4_0 test model's matrices are repacked on x86-64 by default; no_repack reaches the library
        self.assertTrue(0 < m.repacked_bytes <= m.size_bytes if platform.machine() in ("x86_64", "AMD64") else m.repacked_bytes >= 0)
        with hearth.Model(MODEL, no_repack=True) as plain:
            self.assertEqual(plain.repacked_bytes, 0)
        self.assertGreater(m.n_params, m.n_embd * m.n_vocab)
        with hearth.Session(m, n_ctx=96, n_batch=16, n_threads=1, cats_sparsity=0.3, type_k="f32") as s:
            self.assertEqual(s.n_ctx, 96)
            self.assertTrue(s.mode)
            s.set_threshold(-1, 0.25)
            with self.assertRaises(hearth.HearthError) as cm:
                s.set_threshold(m.n_layer, 0.25)
            self.assertEqual(cm.exception.status, hearth.ERR_INVALID_ARGUMENT)
            s.set_sampler(seed=3)
            prompt = "The mill"
            s.generate_text(prompt, max_tokens=5, stop_at_eog=False)
            perf = s.perf()
            self.assertEqual(perf["n_prompt"], len(m.tokenize(prompt)))
            self.assertEqual(perf["n_generated"], 5)
            self.assertGreaterEqual(perf["generate_ms"], 0)
            self.assertEqual(s.n_past, perf["n_prompt"] + 5)  # each sampled token is evaluated: context now
            self.assertGreater(s.sparse_stats()["tokens"], 0)
            s.reset_stats()
            self.assertEqual(s.sparse_stats()["tokens"], 0)

    def test_tokenize_round_trip(self):
        text = "The hearth keeps the house warm."
        toks = self.model.tokenize(text)
        self.assertEqual(toks[0], self.model.bos)
        self.assertEqual(self.model.detokenize(toks[1:]), text)
        # pieces keep the space SentencePiece puts before the first word; detokenize drops it, as llama.cpp does
        self.assertEqual(b"".join(self.model.token_to_piece(t) for t in toks[1:]).decode(), " " + text)

    def test_invalid_utf8_is_refused(self):
        with self.assertRaises(hearth.HearthError) as cm:
            self.model.tokenize(b"abc\xff\xfe")
        self.assertEqual(cm.exception.status, hearth.ERR_INVALID_ARGUMENT)

    def test_streamed_generation_is_reproducible(self):
        with hearth.Session(self.model, n_ctx=256) as s:
            s.set_sampler(temperature=0)
            pieces = list(s.generate("Once upon a time", max_tokens=16))
            self.assertTrue(pieces)
            first = "".join(pieces)
            s.reset()
            self.assertEqual("".join(s.generate("Once upon a time", max_tokens=16)), first)
            s.reset()
            # hearth_generate with a callback streams the same text
            seen = []
            text = s.generate_text("Once upon a time", max_tokens=16, on_piece=seen.append)
            self.assertEqual(text, first)
            self.assertEqual("".join(seen), first)

    def test_sampler_defaults_are_the_librarys(self):
        # set_sampler() with only a seed samples as the C defaults given explicitly (read from the library, not
        # restated here), and changing one of them (the repeat penalty) changes the text.
        d = hearth._SamplerParams()
        hearth._lib.hearth_sampler_params_init(ctypes.byref(d))

        def text(**kw):
            with hearth.Session(self.model, n_ctx=256) as s:
                s.set_sampler(**kw)
                return "".join(s.generate("Once upon a time", max_tokens=48))
        implicit = text(seed=7)
        explicit = text(temperature=d.temperature, top_k=d.top_k, top_p=d.top_p, min_p=d.min_p,
                        repeat_penalty=d.repeat_penalty, repeat_last_n=d.repeat_last_n, seed=7)
        self.assertEqual(implicit, explicit)
        self.assertNotEqual(d.repeat_penalty, 1.0)
        self.assertNotEqual(text(seed=7, repeat_penalty=1.0), implicit)

    def test_callback_can_stop_and_its_exceptions_propagate(self):
        with hearth.Session(self.model, n_ctx=256) as s:
            n = []
            s.generate_text("Hello", max_tokens=50, on_piece=lambda p: n.append(p) or len(n) < 3)  # False stops
            self.assertEqual(len(n), 3)
            s.reset()

            def boom(piece):
                raise RuntimeError("from the callback")
            with self.assertRaisesRegex(RuntimeError, "from the callback"):
                s.generate_text("Hello", max_tokens=50, on_piece=boom)

    def test_load_progress_reports_and_can_abort(self):
        seen = []
        with hearth.Model(MODEL, progress=seen.append):  # None goes on
            pass
        self.assertTrue(seen)
        self.assertEqual(seen, sorted(seen))
        self.assertTrue(all(0.0 <= f <= 1.0 for f in seen))
        self.assertEqual(seen[-1], 1.0)
        with self.assertRaises(hearth.HearthError) as cm:
            hearth.Model(MODEL, progress=lambda f: False)
        self.assertEqual(cm.exception.status, hearth.ERR_CANCELLED)
        with hearth.Model(MODEL, vocab_only=True) as v:
            self.assertEqual(v.tokenize("Once upon"), self.model.tokenize("Once upon"))

    def test_seed_is_drawn_reported_and_repeatable(self):
        with hearth.Session(self.model, n_ctx=256) as s:
            s.set_sampler()
            first = s.seed
            a = s.generate_text("Once upon a time", max_tokens=24)
            s.reset()
            s.set_sampler()
            self.assertNotEqual(s.seed, first)
            s.reset()
            s.set_sampler(seed=first)
            self.assertEqual(s.seed, first)
            self.assertEqual(s.generate_text("Once upon a time", max_tokens=24), a)

    def test_feed_and_step_match_generate(self):
        with hearth.Session(self.model, n_ctx=256) as s:
            s.set_sampler(seed=5)
            want = s.generate_text("The mill", max_tokens=12, add_bos=False)
            s.reset()
            s.set_sampler(seed=5)
            s.feed("The mill", add_bos=False)
            tokens = []
            while len(tokens) < 12:
                t = s.step()
                if t is None:
                    continue
                if self.model.is_eog(t):
                    break
                tokens.append(t)
            self.assertEqual(b"".join(self.model.token_to_piece(t) for t in tokens).decode("utf-8", "replace"), want)

    def steps(self, s, n):
        out = []
        while len(out) < n:
            t = s.step()
            if t is not None:
                out.append(t)
        return out

    def test_state_save_load_and_truncate(self):
        with hearth.Session(self.model, n_ctx=256) as s, hearth.Session(self.model, n_ctx=256) as s2:
            s.set_sampler(seed=11)
            s.feed("The river ran")
            self.steps(s, 4)
            state = s.save_state()
            want = self.steps(s, 10)
            s2.set_sampler(seed=12)  # the restored generator decides, not this seed
            s2.load_state(state)
            self.assertEqual(self.steps(s2, 10), want)
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "state.hrst")
                s.load_state(state)
                s.save_state_file(path)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), state)
                s2.reset()
                s2.load_state_file(path)
                self.assertEqual(self.steps(s2, 10), want)
            bad = bytearray(state)
            bad[len(bad) // 2] ^= 1
            n_past = s2.n_past
            with self.assertRaises(hearth.HearthError) as cm:
                s2.load_state(bytes(bad))
            self.assertEqual(cm.exception.status, hearth.ERR_BAD_FORMAT)
            self.assertEqual(s2.n_past, n_past)
            s2.truncate(3)
            self.assertEqual(s2.n_past, 3)
            with self.assertRaises(hearth.HearthError):
                s2.truncate(4)

    def test_parity_text(self):
        # The recipe every binding's suite runs (the library's sampler defaults, seed 42, 32 tokens after
        # "Once upon a time" with BOS); .ci/bindings compares the texts with `hearth run` (C).
        with hearth.Session(self.model, n_ctx=256) as s:
            s.set_sampler(seed=42)
            text = s.generate_text("Once upon a time", max_tokens=32)
        self.assertTrue(text)
        out = os.environ.get("HEARTH_PARITY_DIR")
        if out:
            with open(os.path.join(out, "python.txt"), "w", encoding="utf-8") as f:
                f.write(text)

    def test_greedy_eval_matches_sample(self):
        with hearth.Session(self.model, n_ctx=64) as s:
            s.set_sampler(temperature=0)
            s.eval(self.model.tokenize("The hearth"))
            logits = s.logits()
            self.assertEqual(len(logits), self.model.n_vocab)
            self.assertEqual(s.sample(), max(range(len(logits)), key=logits.__getitem__))

    def test_cancel_from_another_thread(self):
        with hearth.Session(self.model, n_ctx=512) as s:
            t = threading.Thread(target=s.cancel)
            t.start()
            t.join()
            # a cancel with nothing running stops the next call
            with self.assertRaises(hearth.HearthError) as cm:
                s.generate_text("Hello", max_tokens=400)
            self.assertEqual(cm.exception.status, hearth.ERR_CANCELLED)
            # and is consumed: the session works again
            s.reset()
            self.assertTrue(s.generate_text("Hello", max_tokens=4) is not None)
            # racing a running generation: it stops early or finishes, never hangs or crashes
            s.reset()
            timer = threading.Timer(0.01, s.cancel)
            timer.start()
            try:
                s.generate_text("Hello", max_tokens=400)
            except hearth.HearthError as e:
                self.assertEqual(e.status, hearth.ERR_CANCELLED)
            timer.join()

    def test_context_overflow(self):
        with hearth.Session(self.model, n_ctx=16) as s:
            self.assertEqual(s.last_error, "")
            with self.assertRaises(hearth.HearthError) as cm:
                s.eval(list(range(3, 40)))
            self.assertEqual(cm.exception.status, hearth.ERR_CONTEXT_FULL)
            # the session's own copy of the message
            self.assertEqual(s.last_error, cm.exception.message)
            self.assertIn("16", s.last_error)

    def test_memory_limit(self):
        # a context whose KV cache alone is far over a 1 MiB limit is refused before anything is allocated
        with self.assertRaises(hearth.HearthError) as cm:
            hearth.Session(self.model, n_ctx=1 << 16, max_memory_bytes=1 << 20)
        self.assertEqual(cm.exception.status, hearth.ERR_OUT_OF_MEMORY)
        self.assertIn("KV cache", str(cm.exception))
        with hearth.Session(self.model, n_ctx=64, max_memory_bytes=1 << 30) as s:
            s.eval([1, 2, 3])

    def test_kv_cache_types(self):
        # the greedy continuation of an F32 cache and of the default F16 one: logits close, not identical
        ref = None
        for t in ("f32", "f16", "q8_0"):
            try:
                s = hearth.Session(self.model, n_ctx=64, type_k=t, type_v=t)
            except hearth.HearthError as e:  # Q8_0 needs heads a multiple of 32 wide
                self.assertEqual(t, "q8_0")
                self.assertIn("multiple of 32", str(e))
                continue
            with s:
                s.eval(self.model.tokenize("The hearth is warm"))
                logits = s.logits()
                if ref is None:
                    ref = logits
                else:
                    self.assertLess(max(abs(a - b) for a, b in zip(logits, ref)), 0.05 * max(abs(x) for x in ref))
        with self.assertRaises(KeyError):
            hearth.Session(self.model, n_ctx=64, type_k="q4_0")

    def test_misuse_after_close(self):
        s = hearth.Session(self.model, n_ctx=32)
        s.close()
        s.close()  # twice is fine
        with self.assertRaises(ValueError):
            s.eval([1])

    def test_sessions_on_threads_share_one_model(self):
        results, errors = {}, []

        def worker(i):
            try:
                with hearth.Session(self.model, n_ctx=128, n_threads=1) as s:
                    s.set_sampler(temperature=0)
                    results[i] = "".join(s.generate("The house", max_tokens=8))
            except Exception as e:  # pragma: no cover
                errors.append(e)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertFalse(errors)
        self.assertEqual(len(set(results.values())), 1)  # greedy: the same text on every thread


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed, %d skipped" % (result.testsRun - failed - len(result.skipped), failed, len(result.skipped)))
    sys.exit(1 if failed else 0)
