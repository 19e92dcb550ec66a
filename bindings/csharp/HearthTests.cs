// The C# binding's suite: a plain console runner (prints "N passed, N failed"; exit code 1 on any failure).
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Hearth;

static class HearthTests
{
    static int passed, failed;
    static string modelPath;

    static void Test(string name, Action body)
    {
        try { body(); passed++; Console.WriteLine("ok   " + name); }
        catch (Exception e) { failed++; Console.WriteLine("FAIL " + name + ": " + e); }
    }

    static void Assert(bool cond, string what) { if (!cond) throw new Exception("assertion failed: " + what); }

    static T Throws<T>(Action a) where T : Exception
    {
        try { a(); } catch (T e) { return e; }
        throw new Exception("expected " + typeof(T).Name);
    }

    static List<int> Steps(Session s, int n)
    {
        var out_ = new List<int>();
        while (out_.Count < n) { int? t = s.Step(); if (t != null) out_.Add(t.Value); }
        return out_;
    }

    static string Run(Session s, string prompt, int n)
    {
        var sb = new StringBuilder();
        s.Generate(prompt, n, p => { sb.Append(p); return true; });
        return sb.ToString();
    }

    static int Main()
    {
        modelPath = Environment.GetEnvironmentVariable("HEARTH_TEST_MODEL");
        if (string.IsNullOrEmpty(modelPath)) { Console.WriteLine("HEARTH_TEST_MODEL is not set"); return 1; }

        Test("version", () => Assert(Library.Version.Split('.').Length == 3 && Library.GpuCount >= 0 && Library.CpuIsa.Length > 0, "version"));
        Test("missing file", () => {
            var e = Throws<HearthException>(() => new Model("/nonexistent/m.gguf"));
            Assert(e.Status == HearthException.IO && e.Message.Contains("cannot open"), e.Message);
        });
        Test("corrupt file", () => {
            string path = Path.GetTempFileName();
            File.WriteAllBytes(path, Encoding.ASCII.GetBytes("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"));
            var e = Throws<HearthException>(() => new Model(path));
            File.Delete(path);
            Assert(e.Status == HearthException.BadFormat, e.Message);
        });
        Test("chat templates", () => {
            var msgs = new List<KeyValuePair<string, string>> { new KeyValuePair<string, string>("system", "S"), new KeyValuePair<string, string>("user", "Hi") };
            string got = Library.ChatApplyTemplate("chatml", msgs);
            Assert(got == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", got);
            Assert(Library.ChatDetectTemplate("<start_of_turn>") == "gemma" && Library.ChatDetectTemplate("plain") == null, "detect");
            Assert(Array.IndexOf(Library.ChatBuiltinTemplates, "llama3") >= 0, "names");
            var e = Throws<HearthException>(() => Library.ChatApplyTemplate("{% macro m() %}{% endmacro %}", msgs));
            Assert(e.Status == HearthException.Unsupported && e.Message.Contains("chatml"), e.Message);
            var bad = new List<KeyValuePair<string, string>> { new KeyValuePair<string, string>("narrator", "x") };
            e = Throws<HearthException>(() => Library.ChatApplyTemplate("chatml", bad));
            Assert(e.Status == HearthException.InvalidArgument, e.Message);
            using (var m = new Model(modelPath))
            {
                e = Throws<HearthException>(() => m.ChatApplyTemplate(msgs));
                Assert(e.Message.Contains("no chat template"), e.Message);
                Assert(m.ChatApplyTemplate(msgs, "zephyr").StartsWith("<|system|>\nS"), "zephyr");
            }
        });
        using (var model = new Model(modelPath))
        {
            Test("metadata and tokenizer", () => {
                Assert(model.NVocab > 100 && model.NLayer > 0, "shape");
                Assert(model.Meta("general.architecture") == "llama", "arch");
                Assert(model.Meta("no.such.key") == null, "absent key");
                var gi = model.GpuInfo();
                Assert(gi.VramWeightBytes <= gi.VramBudgetBytes, "GPU weights within the budget");
                if (Library.GpuCount == 0 && Environment.GetEnvironmentVariable("HEARTH_EMULATE_GPU") == null)
                    Assert(gi.GpuOffload == Model.GpuNone, "no GPU: no offload");
                string text = "The hearth keeps the house warm.";
                int[] toks = model.Tokenize(text);
                Assert(toks[0] == model.Bos, "bos");
                var rest = new int[toks.Length - 1];
                Array.Copy(toks, 1, rest, 0, rest.Length);
                Assert(model.Detokenize(rest) == text, "round trip");
                var e = Throws<HearthException>(() => model.Tokenize(new byte[] { 0x61, 0xff }, false));
                Assert(e.Status == HearthException.InvalidArgument, "bad UTF-8");
            });
            Test("streaming generation", () => {
                using (var s = new Session(model, 256))
                {
                    s.SetGreedy();
                    string a = Run(s, "Once upon a time", 16);
                    s.Reset();
                    Assert(a.Length > 0 && a == Run(s, "Once upon a time", 16), "reproducible");
                    s.Reset();
                    int n = 0;
                    s.Generate("Hello", 50, p => ++n < 3);
                    Assert(n == 3, "callback stops");
                    s.Reset();
                    Throws<InvalidOperationException>(() => s.Generate("Hello", 50, p => { throw new ArgumentException("boom"); }));
                }
            });
            Test("cancel from another thread", () => {
                using (var s = new Session(model, 512))
                {
                    var t = new Thread(s.Cancel);
                    t.Start();
                    t.Join();
                    var e = Throws<HearthException>(() => Run(s, "Hello", 400));
                    Assert(e.Status == HearthException.Cancelled, "cancelled");
                    s.Reset();
                    Run(s, "Hello", 4); // consumed
                    s.Reset();
                    var timer = new Timer(_ => s.Cancel(), null, 5, Timeout.Infinite);
                    try { Run(s, "Hello", 400); }
                    catch (HearthException ex) { Assert(ex.Status == HearthException.Cancelled, "race"); }
                    timer.Dispose();
                }
            });
            Test("memory limit", () => {
                var e = Throws<HearthException>(() => new Session(model, 1 << 16, 0, 0, 1UL << 20));
                Assert(e.Status == HearthException.OutOfMemory, "a session over its memory limit is refused");
                Assert(e.Message.Contains("KV cache"), "with the figure");
                using (var s = new Session(model, 64, 0, 0, 1UL << 30)) s.Eval(new[] { 1, 2, 3 });
            });
            Test("context overflow and misuse", () => {
                var s = new Session(model, 16);
                var toks = new int[40];
                for (int i = 0; i < toks.Length; i++) toks[i] = 3 + i;
                Assert(s.LastError == "", "a new session's last error");
                var e = Throws<HearthException>(() => s.Eval(toks));
                Assert(e.Status == HearthException.ContextFull, "overflow");
                Assert(e.Message.Length > 0 && s.LastError == e.Message, "the session's last error: " + s.LastError);
                s.Dispose();
                s.Dispose();
                Throws<ObjectDisposedException>(() => s.Eval(new[] { 1 }));
            });
            Test("load options: progress, abort, vocab-only, GPU mode", () => {
                var seen = new List<float>();
                using (var m = new Model(modelPath, new ModelOptions { Prefault = true, GpuOffload = Model.GpuNone, Progress = f => { seen.Add(f); return true; } }))
                {
                    Assert(seen.Count > 0 && seen[seen.Count - 1] == 1.0f, "progress reaches 1");
                    for (int i = 0; i < seen.Count; i++) Assert(seen[i] >= 0 && seen[i] <= 1 && (i == 0 || seen[i] >= seen[i - 1]), "progress in order");
                    Assert(m.GpuInfo().GpuOffload == Model.GpuNone, "CPU only");
                    using (var v = new Model(modelPath, new ModelOptions { VocabOnly = true }))
                    {
                        Assert(string.Join(",", v.Tokenize("Once upon")) == string.Join(",", m.Tokenize("Once upon")), "vocab-only tokens");
                        Throws<HearthException>(() => new Session(v, 64));
                    }
                }
                var e = Throws<HearthException>(() => new Model(modelPath, new ModelOptions { Progress = f => false }));
                Assert(e.Status == HearthException.Cancelled, "false aborts the load");
                // the layer cap and the GPU context reach the library (it names the field it refuses)
                var l = Throws<HearthException>(() => new Model(modelPath, new ModelOptions { GpuOffload = Model.GpuLayers, GpuNLayers = -1 }));
                Assert(l.Status == HearthException.InvalidArgument && l.Message.Contains("gpu_n_layers"), l.Message);
                var c = Throws<HearthException>(() => new Model(modelPath, new ModelOptions { GpuOffload = Model.GpuLayers, GpuNCtx = -1 }));
                Assert(c.Status == HearthException.InvalidArgument && c.Message.Contains("gpu_n_ctx"), c.Message);
                new Model(modelPath, new ModelOptions { GpuOffload = Model.GpuLayers, GpuNLayers = 1, GpuNCtx = 64 }).Dispose();
            });
            Test("state save, load and truncate", () => {
                using (var a = new Session(model, 256))
                using (var b = new Session(model, 256))
                {
                    var pa = SamplerParams.Default(); pa.Seed = 11;
                    var pb = SamplerParams.Default(); pb.Seed = 12;
                    a.SetSampler(pa);
                    b.SetSampler(pb);
                    a.Feed("The river ran");
                    Steps(a, 4);
                    byte[] state = a.SaveState();
                    string want = string.Join(",", Steps(a, 10));
                    b.LoadState(state);
                    Assert(string.Join(",", Steps(b, 10)) == want, "the restored session continues identically");
                    string path = Path.Combine(Path.GetTempPath(), "hearth-cs-state-" + System.Diagnostics.Process.GetCurrentProcess().Id + ".hrst");
                    a.LoadState(state);
                    a.SaveStateFile(path);
                    Assert(Convert.ToBase64String(File.ReadAllBytes(path)) == Convert.ToBase64String(state), "the file holds the state");
                    b.LoadStateFile(path);
                    Assert(string.Join(",", Steps(b, 10)) == want, "restored from the file");
                    File.Delete(path);
                    var bad = (byte[])state.Clone();
                    bad[bad.Length / 2] ^= 1;
                    int nPast = b.NPast;
                    var e = Throws<HearthException>(() => b.LoadState(bad));
                    Assert(e.Status == 4 && b.NPast == nPast, "a corrupted state is refused and changes nothing");
                    b.Truncate(3);
                    Assert(b.NPast == 3, "truncated");
                    Throws<HearthException>(() => b.Truncate(4));
                }
            });
            Test("sampler defaults and the seed", () => {
                var d = SamplerParams.Default();
                Assert(d.Seed == SamplerParams.SeedRandom && d.Temperature > 0 && d.RepeatPenalty != 1, "the library's defaults");
                using (var s = new Session(model, 256))
                {
                    s.SetSampler(d);
                    ulong drawn = s.Seed;
                    Assert(drawn != SamplerParams.SeedRandom, "a seed is drawn");
                    string a = Run(s, "Once upon a time", 24);
                    s.Reset();
                    s.SetSampler(d);
                    Assert(s.Seed != drawn, "a fresh one each time");
                    s.Reset();
                    var again = d; again.Seed = drawn;
                    s.SetSampler(again);
                    Assert(Run(s, "Once upon a time", 24) == a, "the reported seed repeats the text");
                    s.Reset();
                    var nopen = again; nopen.RepeatPenalty = 1;
                    s.SetSampler(nopen);
                    Assert(Run(s, "Once upon a time", 24) != a, "the repeat penalty is in effect");
                    var bad = d; bad.TopP = 0;
                    Assert(Throws<HearthException>(() => s.SetSampler(bad)).Status == HearthException.InvalidArgument, "top_p 0 refused");
                }
            });
            Test("feed/step, BOS, logits, sample, stats", () => {
                using (var s = new Session(model, 256))
                {
                    s.SetGreedy();
                    var sb = new StringBuilder();
                    s.Generate("The mill", 12, p => { sb.Append(p); return true; }, addBos: false);
                    s.Reset();
                    s.Generate("The mill", 12, p => true, addBos: false, stopAtEog: false);
                    int nNoBos = s.NPast;
                    s.Reset();
                    s.Generate("The mill", 12, p => true, addBos: true, stopAtEog: false);
                    Assert(s.NPast == nNoBos + 1, "BOS adds one token");
                    s.Reset();
                    s.Feed("The mill", addBos: false);
                    var got = new List<byte>();
                    for (int n = 0; n < 12;)
                    {
                        int? t = s.Step();
                        if (t == null) continue;
                        n++;
                        if (model.IsEog(t.Value)) break;
                        got.AddRange(model.TokenToPiece(t.Value));
                    }
                    Assert(Encoding.UTF8.GetString(got.ToArray()) == sb.ToString(), "step gives generate's text");
                    s.Reset();
                    int[] toks = model.Tokenize("The hearth keeps");
                    s.Eval(toks, allLogits: true);
                    float[] first = s.Logits(0), last = s.Logits();
                    Assert(first != null && last != null && last.Length == model.NVocab, "all logits kept");
                    int best = 0;
                    for (int i = 0; i < last.Length; i++) if (last[i] > last[best]) best = i;
                    Assert(s.Sample() == best, "greedy sample is the arg max");
                    var st = s.SparseStats();
                    Assert(st.Tokens > 0 && st.ActiveFraction > 0 && st.ActiveFraction <= 1, "sparse stats");
                    byte[] bos = model.TokenToPiece(model.Bos, true);
                    if (bos.Length > 0)
                    {
                        int[] sp = model.Tokenize(bos, false, true);
                        Assert(sp.Length == 1 && sp[0] == model.Bos, "special parses the BOS text");
                        int[] plain = model.Tokenize(bos, false, false);
                        Assert(!(plain.Length == 1 && plain[0] == model.Bos), "not without the flag");
                    }
                }
            });
            Test("the rest of the C surface", () => {
                // versions, the log callback, model sizes, session options and counters, thresholds, perf
                string[] v = Library.Version.Split('.');
                Assert(Library.VersionNumber == int.Parse(v[0]) * 10000 + int.Parse(v[1]) * 100 + int.Parse(v[2]), "version number");
                Assert(Library.AbiVersion == Library.HeaderAbiVersion, "ABI version");
                var lines = new List<string>();
                bool loaded = false;
                Library.SetLogCallback((level, msg) => { lock (lines) { lines.Add(msg); loaded |= level == Library.LogInfo && msg.Contains("loaded"); } }, Library.LogInfo);
                new Model(modelPath, new ModelOptions { VocabOnly = true }).Dispose();
                Library.SetLogCallback(null);
                int n = lines.Count;
                Assert(loaded, "a load message: " + string.Join(" | ", lines));
                new Model(modelPath, new ModelOptions { VocabOnly = true }).Dispose();
                Assert(lines.Count == n, "silenced again");
                Func<string, long> meta = k => long.Parse(model.Meta(k));
                Assert(model.NEmbd == meta("llama.embedding_length") && model.NCtxTrain == meta("llama.context_length") &&
                       model.NLayer == meta("llama.block_count") && model.Eos == meta("tokenizer.ggml.eos_token_id") && model.IsEog(model.Eos),
                       "model sizes agree with the metadata");
                ulong size = (ulong)new FileInfo(modelPath).Length;
                Assert(model.SizeBytes > size / 2 && model.SizeBytes <= size, "the weights are most of the file: " + model.SizeBytes);
                Assert(model.NParams > (ulong)(model.NEmbd * model.NVocab), "n_params");
                // the Q4_0 test model's matrices are repacked on x86-64 by default; NoRepack reaches the library
                Assert(model.RepackedBytes <= model.SizeBytes && (model.RepackedBytes > 0 || RuntimeInformation.ProcessArchitecture != Architecture.X64),
                       "repacked " + model.RepackedBytes);
                using (var plain = new Model(modelPath, new ModelOptions { NoRepack = true })) Assert(plain.RepackedBytes == 0, "no repack");
                Assert(model.Description.Contains("llama"), model.Description);
                using (var s = new Session(model, 96, 1, nBatch: 16, catsSparsity: 0.3f, typeK: Session.KvF32))
                {
                    Assert(s.NCtx == 96 && s.Mode.Length > 0, "n_ctx and mode");
                    s.SetThreshold(-1, 0.25f);
                    var e = Throws<HearthException>(() => s.SetThreshold(model.NLayer, 0.25f));
                    Assert(e.Status == HearthException.InvalidArgument, e.Message);
                    var p = SamplerParams.Default(); p.Seed = 3;
                    s.SetSampler(p);
                    s.Generate("The mill", 5, piece => true, stopAtEog: false);
                    var pf = s.Perf();
                    Assert(pf.NPrompt == model.Tokenize("The mill").Length && pf.NGenerated == 5 && pf.GenerateMs >= 0, "perf");
                    Assert(s.NPast == pf.NPrompt + 5, "each sampled token is evaluated: " + s.NPast);
                    Assert(s.SparseStats().Tokens > 0, "tokens counted");
                    s.ResetStats();
                    Assert(s.SparseStats().Tokens == 0, "ResetStats");
                }
                var bad = Throws<HearthException>(() => new Session(model, 64, typeK: 99));
                Assert(bad.Status == HearthException.InvalidArgument, bad.Message);
            });
            Test("parity text", () => {
                // The recipe every binding's suite runs (the library's sampler defaults, seed 42, 32 tokens after
                // "Once upon a time" with BOS); .ci/bindings compares the texts with `hearth run` (C).
                using (var s = new Session(model, 256))
                {
                    var p = SamplerParams.Default(); p.Seed = 42;
                    s.SetSampler(p);
                    string text = Run(s, "Once upon a time", 32);
                    Assert(text.Length > 0, "text");
                    string dir = Environment.GetEnvironmentVariable("HEARTH_PARITY_DIR");
                    if (!string.IsNullOrEmpty(dir)) File.WriteAllText(Path.Combine(dir, "csharp.txt"), text, new UTF8Encoding(false));
                }
            });
            Test("one model, many threads", () => {
                var results = new string[4];
                var threads = new List<Thread>();
                for (int i = 0; i < results.Length; i++)
                {
                    int k = i;
                    var t = new Thread(() => {
                        using (var s = new Session(model, 128, 1)) { s.SetGreedy(); results[k] = Run(s, "The house", 8); }
                    });
                    threads.Add(t);
                    t.Start();
                }
                foreach (var t in threads) t.Join();
                foreach (var r in results) Assert(r == results[0] && r != null, "same greedy text on every thread");
            });
        }
        Console.WriteLine(string.Format("{0} passed, {1} failed", passed, failed));
        return failed == 0 ? 0 : 1;
    }
}
